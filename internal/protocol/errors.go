package protocol

import "fmt"

// Error codes. They follow the OpenClaw gateway's names where the meaning is
// the same, so its clients react to them as they would to OpenClaw.
const (
	CodeInvalidRequest    = "INVALID_REQUEST"
	CodeUnauthorized      = "UNAUTHORIZED"
	CodeAuthRateLimited   = "AUTH_RATE_LIMITED"
	CodeForbidden         = "FORBIDDEN"
	CodeUnknownMethod     = "UNKNOWN_METHOD"
	CodeProtocolMismatch  = "PROTOCOL_MISMATCH"
	CodeConflict          = "CONFLICT"
	CodeUnavailable       = "UNAVAILABLE"
	CodeInternal          = "INTERNAL"
	CodeNotPaired         = "NOT_PAIRED"
	CodeDeviceAuthInvalid = "DEVICE_AUTH_INVALID"
)

// Detail codes carried in Error.Details["code"].
// Long-lived OpenClaw clients read these to decide whether reconnecting can
// help, so auth failures always carry one.
const (
	DetailMissingScope         = "MISSING_SCOPE"
	DetailAuthTokenMissing     = "AUTH_TOKEN_MISSING"
	DetailAuthTokenMismatch    = "AUTH_TOKEN_MISMATCH"
	DetailAuthPasswordMissing  = "AUTH_PASSWORD_MISSING"
	DetailAuthPasswordMismatch = "AUTH_PASSWORD_MISMATCH"
	DetailAuthNotLocal         = "AUTH_REQUIRED"
)

// Error is the error object of a failed response.
type Error struct {
	Code         string         `json:"code"`
	Message      string         `json:"message"`
	Details      map[string]any `json:"details,omitempty"`
	Retryable    *bool          `json:"retryable,omitempty"`
	RetryAfterMs *int64         `json:"retryAfterMs,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetails returns e with details set.
func (e *Error) WithDetails(d map[string]any) *Error {
	e.Details = d
	return e
}

// WithRetry marks e retryable after ms milliseconds.
func (e *Error) WithRetry(ms int64) *Error {
	t := true
	e.Retryable = &t
	e.RetryAfterMs = &ms
	return e
}
