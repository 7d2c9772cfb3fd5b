// Secrets in URLs: the password in the userinfo of a URL is hidden before the text reaches any
// message, log line, status or `sluice check` output, whether or not the text parses as a URL.

/**
 * A value that is, or was meant to be, a URL (a `proxy` field, a provider address, a tag value)
 * with its password replaced by "***". Redacts before any parsing: everything between
 * "scheme://" (or the start of the text when it has no scheme) and the LAST "@" after it is
 * taken as userinfo, since a mistyped password may hold "/", "@", "#", "?", ":" or spaces that a
 * URL parser would read as the end of it. The user name (up to the first ":") stays, as peek and
 * the logs show it: "socks5://user:se/cret@10.0.0.1:1080" -> "socks5://user:***@10.0.0.1:1080".
 * A text without "@" has no userinfo and comes back unchanged.
 */
export function redactUserinfo(text: string): string {
  const scheme = text.indexOf("://");
  const start = scheme < 0 ? 0 : scheme + 3;
  const at = text.lastIndexOf("@");
  if (at < start) return text;
  const userinfo = text.slice(start, at);
  const colon = userinfo.indexOf(":");
  if (colon < 0) return text; // a user name alone, no password
  return `${text.slice(0, start)}${userinfo.slice(0, colon)}:***${text.slice(at)}`;
}
