/* policy.c - labels and approval modes; see include/policy.h. */
#include "policy.h"

int policy_label(const struct connector_cfg *c, const struct conn_tool *t)
{
	int l = config_rule_value(c->label_rules, c->nlabel_rules, t->name, LABEL_UNSET);

	if (l != LABEL_UNSET)
		return l;
	return t->read_only ? LABEL_READ : LABEL_WRITE;
}

const char *policy_label_name(int label)
{
	return label == LABEL_READ ? "read" : "write";
}

int policy_asks(const struct connector_cfg *c, const struct conn_tool *t)
{
	int mode = config_rule_value(c->approval_rules, c->napproval_rules, t->name, c->approval);

	if (mode == APPROVAL_ASK)
		return 1;
	if (mode == APPROVAL_AUTO)
		return 0;
	return policy_label(c, t) == LABEL_WRITE;
}
