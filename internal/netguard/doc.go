// Package netguard is Talon's only way out to the network.
//
// Invariant (DESIGN.md §3.7): every outbound HTTP request — web_fetch,
// web_search, model provider and channel clients, skill downloads — goes
// through a [Transport] (usually inside a client built by [Policy.Client]),
// and therefore:
//
//   - only http and https URLs without userinfo, on allowed ports, leave;
//   - with [Policy.OnlyHosts] set, only the listed hosts (each on its own
//     ports) are reached, redirects included;
//   - the host is normalised the way net/http will dial it (percent-decoding,
//     IDNA, trailing dot, case) and refused if it is a local or metadata name
//     or an IP literal in any spelling (decimal, octal, hex, short forms,
//     IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo, zones);
//   - the dialer resolves the name itself, checks EVERY resolved address with
//     [BlockedIP] at dial time and then dials the checked address, never the
//     name, so DNS rebinding between a check and the dial cannot succeed; a
//     socket-level control hook checks the address once more;
//   - environment proxies (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY) are ignored;
//   - every redirect hop is checked again, and there are at most
//     [Policy.MaxRedirects] of them;
//   - once a redirect leaves the first request's origin (scheme, host,
//     port), the request carries no credential header ([IsCredentialHeader]
//     and [Policy.CredentialHeaders]) and no Referer;
//   - the whole request is limited in time and the response body in size.
//
// The exceptions are exact and owner-configured: [Policy.AllowedOrigins] (the
// provider and channel base URLs the owner configured), [Policy.OnlyHosts]
// entries and [Policy.AllowPrivate]. None of them ever opens cloud metadata
// endpoints (169.254.0.0/16, fd00:ec2::254, metadata.google.internal, …).
//
// Fail closed: every constructor of an outbound client checks the client it
// is given with [CheckClient] and refuses one whose transport is not a
// netguard [Transport] (a nil transport would be http.DefaultTransport); no
// code outside tests names http.DefaultTransport or http.DefaultClient
// (TestInvariant7_NoDefaultTransport in internal/netguard walks the source).
// [Hooks] put a pretend network under a policy for tests; what they return
// is checked like the real thing.
//
// Give each client only the exceptions it needs: a provider or channel
// client its own configured base URL, web_fetch only the tools.web.fetch
// settings. A Policy that lists a provider's origin lets whoever chooses the
// URL reach that provider's API, so never share one with a tool the model
// drives.
//
// Every refusal wraps [ErrBlocked] and says why, with a hint naming the
// setting that would allow it.
//
// Where to be careful: AllowedOrigins are matched by host:port at dial time
// (the dialer cannot see the scheme; CheckURL, which Client runs on every
// request and redirect, does match the scheme). Long-lived streams
// (server-sent events from a model) need a larger Policy.Timeout; WebSocket
// upgrades (101 responses) are passed through uncapped.
package netguard
