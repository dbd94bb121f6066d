// Package protocol defines the gateway's wire format: JSON text frames over
// one WebSocket, shaped like the OpenClaw gateway protocol version 4 so that
// OpenClaw's own clients can talk to Talon for the methods it implements.
//
// Three frame types exist: a client request ("req"), the server's response
// ("res") to exactly one request, and server events ("event"). The first
// server frame is the connect.challenge event; the client's first frame must
// be a "connect" request. DecodeRequest is the one place client bytes become
// a typed request; it rejects anything else with an *Error carrying a stable
// code, and never panics.
package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Version is the protocol version Talon speaks.
const Version = 4

// Frame type tags.
const (
	TypeRequest  = "req"
	TypeResponse = "res"
	TypeEvent    = "event"
)

// Limits on request fields, so a hostile client cannot make the gateway hold
// huge identifiers in maps and logs.
const (
	MaxIDLen     = 256
	MaxMethodLen = 128
)

// Request is a client request frame.
type Request struct {
	Type   string          `json:"type"`
	ID     string          `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

// Response answers exactly one Request.
type Response struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	OK      bool   `json:"ok"`
	Payload any    `json:"payload,omitempty"`
	Error   *Error `json:"error,omitempty"`
}

// Event is a server-pushed frame. Seq is per connection and increases by one
// for every event after the handshake; the challenge carries none.
type Event struct {
	Type    string `json:"type"`
	Event   string `json:"event"`
	Payload any    `json:"payload,omitempty"`
	Seq     *int64 `json:"seq,omitempty"`
}

// OKResponse builds a successful response.
func OKResponse(id string, payload any) Response {
	return Response{Type: TypeResponse, ID: id, OK: true, Payload: payload}
}

// ErrorResponse builds a failed response.
func ErrorResponse(id string, err *Error) Response {
	return Response{Type: TypeResponse, ID: id, OK: false, Error: err}
}

// DecodeRequest parses one client frame. Everything that is not a well-formed
// request object (invalid JSON or UTF-8, trailing data, another frame type,
// a missing or oversize id or method, params that are not an object) yields
// an INVALID_REQUEST error. The returned id is the frame's id when it could be
// read, so the error response can name the request it answers.
func DecodeRequest(data []byte) (*Request, string, *Error) {
	if !utf8.Valid(data) {
		return nil, "", Errorf(CodeInvalidRequest, "frame is not valid UTF-8")
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, "", Errorf(CodeInvalidRequest, "frame is not a JSON object")
	}
	if dec.More() {
		return nil, "", Errorf(CodeInvalidRequest, "trailing data after the frame")
	}
	var id string
	if v, ok := raw["id"]; ok {
		if json.Unmarshal(v, &id) != nil || id == "" || len(id) > MaxIDLen {
			return nil, "", Errorf(CodeInvalidRequest, "id must be a non-empty string of at most %d bytes", MaxIDLen)
		}
	} else {
		return nil, "", Errorf(CodeInvalidRequest, "missing id")
	}
	var typ string
	if json.Unmarshal(raw["type"], &typ) != nil || typ != TypeRequest {
		return nil, id, Errorf(CodeInvalidRequest, "frame type must be %q", TypeRequest)
	}
	var method string
	if json.Unmarshal(raw["method"], &method) != nil || method == "" || len(method) > MaxMethodLen {
		return nil, id, Errorf(CodeInvalidRequest, "method must be a non-empty string of at most %d bytes", MaxMethodLen)
	}
	params := raw["params"]
	if len(params) > 0 && !bytes.Equal(params, []byte("null")) && params[0] != '{' {
		return nil, id, Errorf(CodeInvalidRequest, "params must be an object")
	}
	if bytes.Equal(params, []byte("null")) {
		params = nil
	}
	return &Request{Type: typ, ID: id, Method: method, Params: params}, id, nil
}

// DecodeParams unmarshals request params into v. Absent params decode as an
// empty object. Unknown fields are accepted (newer clients add fields), wrong
// types are not.
func DecodeParams(params json.RawMessage, v any) *Error {
	if len(params) == 0 {
		params = json.RawMessage("{}")
	}
	if err := json.Unmarshal(params, v); err != nil {
		return Errorf(CodeInvalidRequest, "invalid params: %s", describeJSONError(err))
	}
	return nil
}

func describeJSONError(err error) string {
	switch e := err.(type) {
	case *json.UnmarshalTypeError:
		if e.Field != "" {
			return fmt.Sprintf("%s: want %s, got %s", e.Field, e.Type, e.Value)
		}
		return fmt.Sprintf("want %s, got %s", e.Type, e.Value)
	default:
		return err.Error()
	}
}
