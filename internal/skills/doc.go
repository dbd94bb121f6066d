// Package skills holds Talon's skills: SKILL.md folders (the Agent Skills
// format, with OpenClaw's metadata.openclaw gating and Talon's own
// metadata.talon capabilities), signed bundles, the lockfile, the loader and
// the static scanner.
//
// Invariant 13 lives here: a skill from outside reaches the agent only as a
// bundle whose files match a manifest signed by its publisher (ed25519) and,
// when it came from a registry, countersigned by that registry and present
// in its append-only publication log. Installs verify everything in memory
// before the first file is written; every load re-verifies the files on disk
// against the lockfile (skills.lock) and refuses a modified skill. Archives
// are read with caps (file count, sizes, compression ratio) and admit only
// regular files at clean relative paths. A skill's declared capabilities are
// data; what it may do is decided by the one policy, which this package
// feeds with pure functions (Capabilities.Allows*, Exceeds, Grant): a skill
// never widens what the owner's configuration forbids, and a skill without
// a trusted signature is restricted (no exec, no network, no secrets).
//
// The scanner (Scan) informs the owner; it is not what protects them.
package skills
