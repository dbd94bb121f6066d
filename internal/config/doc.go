// Package config loads, validates, edits and watches Talon's configuration
// file (talon.json, JSON5).
//
// Guarantees:
//
//   - Strict: a key the Go types do not declare, a value of the wrong type, a
//     number out of range, a value outside an enumeration, a duplicate key,
//     trailing text after the top-level object and a broken cross-field rule
//     are all errors. Nothing is silently ignored or coerced.
//   - Every problem at once: Parse and Validate collect all problems of a file
//     and return them together in a *ValidationError, each with the key path
//     it concerns and, where one helps, a hint that says how to fix it.
//   - Secrets are never printed: tokens, passwords and API keys are
//     secret.Secret values; Redacted shows them as "***", and no Problem
//     contains a secret's value or the value of an environment variable (a
//     problem about a secret names the key and the length; a bad value that
//     came from ${VAR} is shown as the reference). Trees (File.Tree,
//     GetPath, Render) hold the file as written, which may include a secret
//     written inline: they are for editing the file; show RedactTree or
//     Redacted instead.
//   - Absent keys keep their documented defaults, also inside map entries,
//     list elements and optional sections.
//
// Every field is documented once, in struct tags next to the field in
// types.go: json (the key), doc, default, min, max, enum, format, keys,
// required, requiredIf and reload. The validator, Default, Schema, Markdown
// (docs/configuration.md), Render's comments and Diff's live/restart split
// are all derived from those tags by reflection, so they cannot drift apart.
//
// The package never reads the environment itself: callers pass a LookupEnv
// (normally os.LookupEnv) for ${VAR} substitution.
package config
