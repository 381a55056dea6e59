/*
 * list.h - intrusive linked lists, the one place they are unlinked.
 *
 * A doubly linked list is a head pointer (and, for a queue, a tail pointer)
 * to nodes that carry `prev` and `next` members of their own type. The
 * macros take the head/tail lvalues and the node; the node's own pointers
 * are cleared, so unlinking twice is harmless once the first unlink is done
 * and a node knows it is out of every list. Owners of the lists are the
 * structs that hold the heads; nothing here allocates or frees.
 */
#ifndef MCPMUX_LIST_H
#define MCPMUX_LIST_H

/* Appends node n at the tail of the queue (head, tail). */
#define DLIST_APPEND(head, tail, n) do {		\
	(n)->next = NULL;				\
	(n)->prev = (tail);				\
	if (tail)					\
		(tail)->next = (n);			\
	else						\
		(head) = (n);				\
	(tail) = (n);					\
} while (0)

/* Pushes node n at the head of a list with no tail pointer. */
#define DLIST_PUSH(head, n) do {			\
	(n)->prev = NULL;				\
	(n)->next = (head);				\
	if (head)					\
		(head)->prev = (n);			\
	(head) = (n);					\
} while (0)

/* Unlinks n; at_tail is what a queue does when n was its last node. */
#define DLIST_UNLINK_(head, n, at_tail) do {		\
	if ((n)->prev)					\
		(n)->prev->next = (n)->next;		\
	else if ((head) == (n))				\
		(head) = (n)->next;			\
	if ((n)->next)					\
		(n)->next->prev = (n)->prev;		\
	else						\
		at_tail;				\
	(n)->prev = (n)->next = NULL;			\
} while (0)

/* Unlinks n from the queue (head, tail). */
#define DLIST_UNLINK_QUEUE(head, tail, n)		\
	DLIST_UNLINK_(head, n, if ((tail) == (n)) (tail) = (n)->prev)

/* Unlinks n from a list with no tail pointer. */
#define DLIST_UNLINK(head, n) DLIST_UNLINK_(head, n, (void)0)

/* Removes n from a singly linked list (nodes with `next` only), if it is there. */
#define SLIST_REMOVE(head, n) do {			\
	__typeof__(n) *pp_ = &(head);			\
	while (*pp_ && *pp_ != (n))			\
		pp_ = &(*pp_)->next;			\
	if (*pp_)					\
		*pp_ = (n)->next;			\
	(n)->next = NULL;				\
} while (0)

#endif
