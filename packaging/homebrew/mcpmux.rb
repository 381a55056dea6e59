# packaging/homebrew/mcpmux.rb - a Homebrew formula for mcpmux (Homebrew on Linux).
#
# macOS is not supported yet: mcpmux uses Linux-only calls (prctl, SO_PEERCRED,
# accept4, pipe2), so the formula says `depends_on :linux` and `brew install`
# refuses on a Mac instead of failing half-way through the build.
#
# Before publishing it in a tap: replace the url and sha256 placeholders below
# with a released tarball (`shasum -a 256 mcpmux-0.1.0.tar.gz`).
class Mcpmux < Formula
  desc "One stdio MCP server in front of many remote MCP servers"
  homepage "https://example.invalid/mcpmux"
  # PLACEHOLDER: the release tarball's URL and its SHA-256.
  url "https://example.invalid/mcpmux/mcpmux-0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  license "Apache-2.0"

  depends_on "jsmn" => :build # a single header, jsmn.h
  depends_on "pkg-config" => :build
  depends_on "curl"
  depends_on "inih"
  depends_on "libsodium"
  depends_on :linux

  def install
    # CFLAGS stays out of the command line: the Makefile adds its own flags
    # (-std=c11, warnings) to the CFLAGS it inherits.
    system "make"
    system "make", "install", "PREFIX=#{prefix}", "MANDIR=#{man}",
           "DOCDIR=#{doc}", "BASHCOMPDIR=#{bash_completion}"
  end

  def caveats
    <<~EOS
      Write a starter config, test it, and print the entry for your agent:
        mcpmux init
        mcpmux check
        mcpmux config claude
      A commented example using every key: #{doc}/examples/sample.ini
    EOS
  end

  test do
    assert_match "mcpmux #{version}", shell_output("#{bin}/mcpmux --version")
    system bin/"mcpmux", "--version"
    system bin/"mcpmux", "init", testpath/"mcpmux.ini"
    assert_match(/example\s+disabled/, shell_output("#{bin}/mcpmux check -c #{testpath}/mcpmux.ini"))
  end
end
