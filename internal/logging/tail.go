package logging

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/talonclaw/talon/internal/redact"
)

const (
	// tailChunk is how much Tail reads at a time, backwards from the end.
	tailChunk = 64 << 10
	// tailMaxBytes bounds what Tail reads, whatever n is: a file of huge
	// lines cannot make it load the whole file.
	tailMaxBytes = 16 << 20
)

// Tail returns the last n lines of the file at path, oldest first, each
// passed through redact.Redact. It reads backwards from the end of the
// file, and at most 16 MiB of it. A final line without a newline counts;
// the current file only is read, not the rotated ones.
func Tail(path string, n int) ([]string, error) {
	lines, err := tail(path, n, tailChunk, tailMaxBytes)
	if err != nil {
		return nil, fmt.Errorf("logging.Tail: %w", err)
	}
	return lines, nil
}

func tail(path string, n, chunk int, maxBytes int64) ([]string, error) {
	if n < 0 {
		return nil, fmt.Errorf("negative line count %d", n)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if n == 0 || st.Size() == 0 {
		return []string{}, nil
	}

	// Read chunks backwards until the data holds n newlines before its
	// last byte (the n lines then start after the n-th from the end), or
	// the start of the file, or the byte limit.
	end := st.Size()
	pos := end
	var chunks [][]byte // last chunk first
	newlines, total := 0, int64(0)
	for pos > 0 && newlines < n && total < maxBytes {
		size := min(int64(chunk), pos, maxBytes-total)
		pos -= size
		buf := make([]byte, size)
		if _, err := f.ReadAt(buf, pos); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		chunks = append(chunks, buf)
		total += size
		c := bytes.Count(buf, []byte{'\n'})
		if pos+size == end && buf[len(buf)-1] == '\n' {
			c-- // the newline that ends the last line does not start one
		}
		newlines += c
	}
	data := make([]byte, 0, total)
	for i := len(chunks) - 1; i >= 0; i-- {
		data = append(data, chunks[i]...)
	}
	text := strings.TrimSuffix(string(data), "\n")
	lines := strings.Split(text, "\n")
	if pos > 0 && len(lines) <= n {
		// Stopped at the byte limit: the first line is cut.
		lines = lines[1:]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		lines[i] = redact.Redact(strings.TrimSuffix(l, "\r"))
	}
	return lines, nil
}
