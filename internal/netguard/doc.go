// Package netguard closes server-side request forgery (SSRF) for webhook
// endpoint URLs.
//
// A webhook service dials URLs chosen by its API users. Without a guard, an
// endpoint such as https://169.254.169.254/ (cloud metadata),
// https://127.0.0.1:6379/ or a DNS name that resolves to 10.0.0.5 turns the
// delivery worker into a proxy into the private network. The package applies
// the same policy at two points:
//
//   - when an endpoint is registered: [Policy.ValidateURL] checks the URL
//     syntax and resolves the host, so users get an immediate, specific error;
//   - when a delivery connects: [Policy.DialContext] (wired into the client
//     returned by [NewHTTPClient]) resolves again and checks the addresses it
//     is about to dial, and a net.Dialer Control hook checks the socket
//     address once more just before connect(2). The second check is what
//     defeats DNS rebinding: a name that resolved to a public address at
//     registration time may resolve to 127.0.0.1 at delivery time.
//
// Only public unicast addresses may be dialled. Operators can exempt ranges
// (for local development and tests) with WEBHOOK_ALLOWED_CIDRS, parsed by
// [ParseCIDRs]; https stays required even then.
//
// Error messages name the rule that refused a URL, never the IP address a
// name resolved to: they are returned to API users, and echoing resolved
// addresses would let a user map the internal network through the API.
package netguard
