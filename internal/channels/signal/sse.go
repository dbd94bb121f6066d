package signal

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// event is one dispatched server-sent event.
type event struct {
	Type string // the event field; "" when the server sent none ("message" in the spec)
	Data string // data lines joined with "\n"
	ID   string // the last event id as of this event (it persists across events)
}

// errLineTooLong is returned for a line longer than maxLine; the stream is
// abandoned (and reconnected) rather than buffered without bound.
var errLineTooLong = errors.New("event stream line too long")

// sseReader parses a text/event-stream as the WHATWG HTML specification
// ("Server-sent events", "Interpreting an event stream") says: lines end
// in CRLF, LF or CR; a leading byte-order mark is skipped; lines starting
// with ":" are comments (signal-cli's keep-alives); "field:value" has one
// optional space after the colon stripped, a line without a colon is a
// field with an empty value; data lines accumulate with "\n" between them;
// id sets the last event id unless it contains NUL and persists across
// events; retry with only ASCII digits sets the reconnection time; unknown
// fields are ignored; a blank line dispatches the event unless its data is
// empty; an event not ended by a blank line at end of stream is dropped.
type sseReader struct {
	r       *bufio.Reader
	maxLine int
	started bool // the BOM check is done
	lastCR  bool // the previous line ended in CR: a following LF is part of it

	lastID string
	retry  time.Duration // the server's reconnection time; 0 when not sent
}

func newSSEReader(r io.Reader, maxLine int) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 4096), maxLine: maxLine}
}

// Next returns the next dispatched event. Every line read (comments
// included) is reported to onLine first, so a caller can tell a live
// stream from a dead one. At the end of the stream it returns io.EOF.
func (s *sseReader) Next(onLine func()) (event, error) {
	var (
		data    strings.Builder
		hasData bool
		typ     string
	)
	for {
		line, err := s.readLine()
		if err != nil {
			return event{}, err
		}
		if onLine != nil {
			onLine()
		}
		if len(line) == 0 {
			if !hasData {
				typ = ""
				continue
			}
			return event{Type: typ, Data: strings.TrimSuffix(data.String(), "\n"), ID: s.lastID}, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte{' '})
		}
		switch string(field) {
		case "event":
			typ = string(value)
		case "data":
			data.Write(value)
			data.WriteByte('\n')
			hasData = true
			if data.Len() > s.maxLine {
				return event{}, errLineTooLong
			}
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				s.lastID = string(value)
			}
		case "retry":
			if n, err := strconv.ParseUint(string(value), 10, 31); err == nil && isDigits(value) {
				s.retry = time.Duration(n) * time.Millisecond
			}
		}
	}
}

func isDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// readLine returns the next line without its end (CRLF, LF or CR). A last
// line not ended before EOF is discarded, as the specification says of an
// incomplete event.
func (s *sseReader) readLine() ([]byte, error) {
	var line []byte
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if s.lastCR {
			s.lastCR = false
			if c == '\n' {
				continue
			}
		}
		switch c {
		case '\n':
			return s.line(line), nil
		case '\r':
			s.lastCR = true
			return s.line(line), nil
		}
		line = append(line, c)
		if len(line) > s.maxLine {
			return nil, errLineTooLong
		}
	}
}

// line strips the UTF-8 byte-order mark from the stream's first line.
func (s *sseReader) line(b []byte) []byte {
	if !s.started {
		s.started = true
		b = bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF"))
	}
	return b
}
