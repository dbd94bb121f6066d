// Package release signs, verifies and installs Talon releases, and describes
// a binary's contents (SBOM) and known vulnerabilities.
//
// Invariant (DESIGN.md §3.13, releases): a binary is installed only after
// its manifest has been verified along the whole chain and the downloaded
// bytes match it; anything else leaves the running binary byte-identical.
//
//   - Two tiers of ed25519 keys. Root public keys are compiled into the
//     binary ([RootKeys], set at link time); their private halves stay
//     offline and only sign a bundle of signing keys. A signing key signs
//     manifests and is rotated by publishing a new root-signed bundle
//     (optionally with a notAfter), without a new binary. Each signature
//     covers "talon-release-v1\x00" + purpose + "\x00" + payload
//     ([SignedMessage]), so a bundle signature never passes for a manifest
//     signature. Payloads are decoded only after their signature checks.
//   - The manifest carries version, channel, minimum version, issuedAt and
//     expiresAt, and per platform the artifact's SHA-256 and size. [Verify]
//     refuses an expired manifest (a frozen or replayed feed) and one issued
//     more than [ClockSkew] ahead; [Verified.CheckUpgrade] refuses a
//     downgrade below the running version. Unlike tailscale's distsign,
//     whose signed message carries neither, this stops rollback to an old,
//     vulnerable release.
//   - [Updater.Install] downloads to <binary>.unverified (mode 0600, so it
//     cannot be executed), checks size and SHA-256, keeps the current
//     binary as <binary>.previous, renames the new one into place (one
//     atomic rename), runs its `version --json` and renames the previous
//     one back if that fails or reports another version.
//   - Only the operator's `talon update` command reaches the updater: no
//     tool, agent or gateway package imports this package
//     (TestInvariant13_UpdateUnreachableFromTools). Every fetch goes
//     through netguard (invariant 7) with the manifest URL's origin as the
//     one exception, because the operator named it.
//
// Also here: [SBOM] (CycloneDX 1.6 from Go build info, deterministic),
// [Assemble] (manifest and SBOMs for the binaries `make release` built) and
// the offline vulnerability database reader used by `security audit --deep`.
package release
