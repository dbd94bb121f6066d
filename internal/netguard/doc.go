// Package netguard is Talon's only way out to the network.
//
// Invariant (DESIGN.md §3.7): every outbound HTTP request — web_fetch,
// web_search, model provider and channel clients, skill downloads — is made
// with a client built by [Policy.Client] (or at least a [Policy.Transport]),
// and therefore:
//
//   - only http and https URLs without userinfo, on allowed ports, leave;
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
//   - the whole request is limited in time and the response body in size.
//
// The exceptions are exact and owner-configured: [Policy.AllowedOrigins] (the
// provider and channel base URLs the owner configured), [Policy.AllowedHosts]
// and [Policy.AllowPrivate]. None of them ever opens cloud metadata endpoints
// (169.254.0.0/16, fd00:ec2::254, metadata.google.internal, …).
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
