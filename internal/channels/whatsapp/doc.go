// Package whatsapp connects a WhatsApp account to Talon as a linked device
// (WhatsApp Web's multi-device protocol, through go.mau.fi/whatsmeow).
//
// The adapter is compiled only with the build tag "whatsapp":
//
//	go build -tags whatsapp ./cmd/talon
//
// whatsmeow depends on go.mau.fi/libsignal, which is GPL-3.0; every file that
// imports either starts with //go:build whatsapp, so a default build never
// links them and this file (the package documentation) is all that remains.
// A binary built with the tag is covered by the GPL.
//
// What the adapter guarantees:
//
//   - The linked device's keys live in one SQLite file per account,
//     <stateDir>/whatsapp/<account>.db, created 0600 inside a 0700
//     directory; the account id must be a plain name so it cannot point the
//     path elsewhere. `talon channels login whatsapp` links it by QR code
//     (Login), `talon channels logout whatsapp` unlinks it and deletes the
//     file (Logout). Start without a linked device fails with a hint.
//   - Every connection whatsmeow makes (the WhatsApp Web websocket before and
//     after login, media uploads and downloads) uses an http.Client built on
//     internal/netguard that allows public addresses on port 443 only
//     (DESIGN.md §3.7).
//   - Inbound messages carry WhatsApp's stable ids: SenderID is the sender's
//     user JID without device part (the phone-number JID where WhatsApp
//     tells us, else the LID), ChatID the chat JID. Messages from the linked
//     account itself, status updates, newsletters, reactions, edits and other
//     protocol messages are dropped. The Router decides who may talk.
//   - QR codes (which carry the device's pairing secret) and the raw XML
//     frames whatsmeow logs at debug level never reach the log.
package whatsapp
