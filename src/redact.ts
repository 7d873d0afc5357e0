// Credentials written into URLs and references (`oci://user:password@host/...`, a kubeconfig
// server) stay out of every message: OciError redacts its message with this, and the kube
// domain and the CLI use it for their own lines. Shared by the domains, like errors.ts.

/**
 * `text` with the password of any `scheme://user:password@` or `user:password@host/` in it
 * replaced by `***` (the user name is kept; a `scheme://token@` loses the token), for messages,
 * logs and progress lines.
 */
export function redactCredentials(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]*)(:[^/@\s]*)?@/gi, (_all, scheme: string, user: string, password: string | undefined) => (password === undefined ? `${scheme}***@` : `${scheme}${user}:***@`))
    .replace(/(^|[\s"'(=])([^/@\s:"'(=]+):[^/@\s]*@(?=[^/\s@]+\/)/g, '$1$2:***@');
}
