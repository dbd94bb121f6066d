package signal

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/talonclaw/talon/internal/channels"
)

func readAll(t testing.TB, stream string, maxLine int) ([]event, *sseReader, error) {
	r := newSSEReader(strings.NewReader(stream), maxLine)
	var out []event
	for {
		ev, err := r.Next(nil)
		if err != nil {
			return out, r, err
		}
		out = append(out, ev)
	}
}

func TestSSEParser(t *testing.T) {
	cases := []struct {
		name   string
		stream string
		want   []event
	}{
		{"signal-cli frame", "id:1-1\nevent:receive\ndata:{\"a\":1}\n\n", []event{{"receive", `{"a":1}`, "1-1"}}},
		{"keep-alives and comments", ":\n: hi\n:\ndata:x\n\n:\n", []event{{"", "x", ""}}},
		{"multi-line data", "data:a\ndata: b\ndata:\n\n", []event{{"", "a\nb\n", ""}}},
		{"one space stripped", "data:  two\n\n", []event{{"", " two", ""}}},
		{"CRLF and CR", "event: receive\r\ndata: a\r\rdata: b\r\n\r\n", []event{{"receive", "a", ""}, {"", "b", ""}}},
		{"BOM", "\xEF\xBB\xBFdata: x\n\n", []event{{"", "x", ""}}},
		{"id persists, NUL ignored, empty resets", "id: 7\ndata: a\n\nid: 8\x00\ndata: b\n\nid\ndata: c\n\n",
			[]event{{"", "a", "7"}, {"", "b", "7"}, {"", "c", ""}}},
		{"empty data not dispatched, type reset", "event: x\n\nevent\ndata\n\n", []event{{"", "", ""}}},
		{"unknown fields", "foo: bar\nDATA: no\ndata: yes\n\n", []event{{"", "yes", ""}}},
		{"unterminated last event dropped", "data: a\n\ndata: b\n", []event{{"", "a", ""}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _, err := readAll(t, c.stream, 1<<10)
			if err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Fatalf("err %v", err)
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", c.want) {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestSSERetryField(t *testing.T) {
	_, r, _ := readAll(t, "retry: 2500\n\nretry: 1x\n\nretry: -1\n\n", 100)
	if r.retry != 2500*time.Millisecond {
		t.Errorf("retry %v", r.retry)
	}
}

func TestSSELimits(t *testing.T) {
	if _, _, err := readAll(t, "data: "+strings.Repeat("x", 200)+"\n\n", 100); !errors.Is(err, errLineTooLong) {
		t.Errorf("long line: %v", err)
	}
	if _, _, err := readAll(t, strings.Repeat("data: "+strings.Repeat("x", 40)+"\n", 10), 100); !errors.Is(err, errLineTooLong) {
		t.Errorf("long event: %v", err)
	}
}

// FuzzSSE feeds arbitrary streams to the parser: it must not panic or
// hang, must respect its size limit, and must give the same events
// whatever the line ends (LF, CRLF or CR) are.
func FuzzSSE(f *testing.F) {
	f.Add("id:1-1\nevent:receive\ndata:{\"account\":\"+1\"}\n\n:\n")
	f.Add("data: a\r\ndata: b\r\rid: 3\x00\nretry: 10\n\n")
	f.Add("\xEF\xBB\xBFevent\ndata\n\nnocolon\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		const limit = 256
		got, _, err := readAll(t, s, limit)
		if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, errLineTooLong) {
			t.Fatalf("err %v", err)
		}
		for _, ev := range got {
			if len(ev.Data) > limit || len(ev.ID) > limit || len(ev.Type) > limit {
				t.Fatalf("event over the limit: %q", ev)
			}
			if strings.ContainsRune(ev.ID, 0) {
				t.Fatalf("id with NUL: %q", ev.ID)
			}
		}
		if strings.ContainsAny(s, "\r") {
			return
		}
		crlf, _, err2 := readAll(t, strings.ReplaceAll(s, "\n", "\r\n"), limit*2)
		if errors.Is(err, errLineTooLong) || errors.Is(err2, errLineTooLong) {
			return
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", crlf) {
			t.Fatalf("LF and CRLF streams differ:\n%q\n%q", got, crlf)
		}
	})
}

// FuzzEnvelope feeds arbitrary receive-event data to the parser and the
// conversion: no panic, and every Message it lets through is well formed.
func FuzzEnvelope(f *testing.F) {
	f.Add(`{"account":"+15550001111","envelope":{"source":"+15550002222","sourceNumber":"+15550002222","sourceUuid":"a11ce000-2222-4222-8222-000000000002","sourceName":"A","sourceDevice":1,"timestamp":1631458508784,"dataMessage":{"timestamp":1631458508784,"message":"hi \uFFFC","expiresInSeconds":0,"viewOnce":false,"mentions":[{"name":"+15550001111","number":"+15550001111","uuid":"u","start":3,"length":1}],"attachments":[{"contentType":"image/png","filename":"a.png","size":3}],"groupInfo":{"groupId":"Zm9v","type":"DELIVER"},"quote":{"id":5,"author":"+15550001111","authorNumber":"+15550001111","authorUuid":null,"text":"q","attachments":[]}}}}`)
	f.Add(`{"account":"+1","envelope":{"sourceUuid":"x","timestamp":2,"syncMessage":{"sentMessage":{"timestamp":2,"message":"m"}}}}`)
	f.Add(`{"account":"+1","exception":{"message":"m","type":"UntrustedIdentityException"}}`)
	f.Add(`{"envelope":{"sourceNumber":"+1","timestamp":3,"dataMessage":{"message":"\uFFFC\uFFFC","mentions":[{"number":"+2","start":1,"length":1},{"number":"+3","start":0,"length":1},{"start":-4,"length":9}]}}}`)
	f.Add(`{"envelope":{"sourceNumber":"+1","timestamp":-1,"dataMessage":{"message":"x"}}}`)
	me := self{Number: "+15550001111", UUID: "u"}
	f.Fuzz(func(t *testing.T, data string) {
		n, err := parseNotification([]byte(data))
		if err != nil {
			return
		}
		m, ok := convert(n, me, "default")
		if !ok {
			return
		}
		if m.ID == "" || m.SenderID == "" || m.ChatID == "" || !strings.HasPrefix(m.ID, m.SenderID+":") {
			t.Fatalf("ids: %+v", m)
		}
		if m.ChatType != channels.ChatDirect && m.ChatType != channels.ChatGroup {
			t.Fatalf("chat type %q", m.ChatType)
		}
		if strings.TrimSpace(m.Text) == "" && len(m.Attachments) == 0 {
			t.Fatalf("empty message let through: %+v", m)
		}
		if !utf8.ValidString(m.Text) {
			t.Fatalf("invalid UTF-8 text %q", m.Text)
		}
		if n.Envelope.DataMessage.Message != nil && !strings.ContainsRune(*n.Envelope.DataMessage.Message, objectReplacement) && m.Text != *n.Envelope.DataMessage.Message {
			t.Fatalf("text changed without mentions: %q -> %q", *n.Envelope.DataMessage.Message, m.Text)
		}
	})
}
