package fakellm

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func post(t *testing.T, s *Server, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer test")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

const reqBody = `{"model":"m","messages":[{"role":"system","content":"sys"},{"role":"user","content":[{"type":"text","text":"hello "},{"type":"text","text":"world"}]},
{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"echo","arguments":"{}"}}]},
{"role":"tool","tool_call_id":"c1","content":"done"}],"tools":[{"type":"function","function":{"name":"echo","parameters":{}}}]%s}`

func TestNonStreaming(t *testing.T) {
	s := New(t)
	s.Script(Reply{Text: "hi", ToolCalls: []Call{{ID: "x", Name: "echo", Args: `{"a":1}`}}})
	res := post(t, s, fmt.Sprintf(reqBody, ""))
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var cc struct {
		Object  string
		Model   string
		Choices []struct {
			Message struct {
				Role      string
				Content   *string
				ToolCalls []struct {
					ID       string
					Type     string
					Function struct{ Name, Arguments string }
				} `json:"tool_calls"`
			}
			FinishReason string `json:"finish_reason"`
		}
		Usage struct {
			Prompt     int `json:"prompt_tokens"`
			Completion int `json:"completion_tokens"`
			Total      int `json:"total_tokens"`
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&cc); err != nil {
		t.Fatal(err)
	}
	c := cc.Choices[0]
	if cc.Object != "chat.completion" || cc.Model != "m" || *c.Message.Content != "hi" || c.FinishReason != "tool_calls" ||
		len(c.Message.ToolCalls) != 1 || c.Message.ToolCalls[0].Function.Arguments != `{"a":1}` || c.Message.ToolCalls[0].Type != "function" {
		t.Fatalf("completion %+v", cc)
	}
	if cc.Usage.Prompt == 0 || cc.Usage.Completion == 0 || cc.Usage.Total != cc.Usage.Prompt+cc.Usage.Completion {
		t.Fatalf("default usage %+v", cc.Usage)
	}
	r := s.Requests()[0]
	if r.Model != "m" || r.Stream || r.Authorization != "Bearer test" || len(r.Messages) != 4 || r.Messages[1].Content != "hello world" ||
		r.Messages[2].ToolCalls[0].ID != "c1" || r.Messages[3].ToolCallID != "c1" || strings.Join(r.Tools, ",") != "echo" {
		t.Fatalf("recorded %+v", r)
	}
}

// chunk is the part of chat.completion.chunk the tests look at.
type chunk struct {
	Object  string
	Choices []struct {
		Index int
		Delta struct {
			Content   string
			ToolCalls []struct {
				Index    int
				ID       string
				Function struct{ Name, Arguments string }
			} `json:"tool_calls"`
		}
		FinishReason *string `json:"finish_reason"`
	}
	Usage *struct {
		Prompt     int `json:"prompt_tokens"`
		Completion int `json:"completion_tokens"`
	}
}

func readSSE(t *testing.T, r io.Reader) (chunks []chunk, done bool) {
	t.Helper()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("not an SSE data line: %q", line)
		}
		if done {
			t.Fatal("data after [DONE]")
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var c chunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		chunks = append(chunks, c)
	}
	return chunks, done
}

func TestStreaming(t *testing.T) {
	s := New(t)
	s.Script(Reply{Text: "one two three four five", ToolCalls: []Call{{ID: "a", Name: "echo", Args: `{"text":"long enough to split"}`}, {Name: "other", Args: `{bad`}},
		Usage: &Usage{Prompt: 11, Completion: 22}})
	res := post(t, s, fmt.Sprintf(reqBody, `,"stream":true,"stream_options":{"include_usage":true}`))
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	chunks, done := readSSE(t, res.Body)
	if !done {
		t.Fatal("no [DONE]")
	}
	var text strings.Builder
	contentChunks := 0
	type acc struct{ id, name, args string }
	calls := map[int]*acc{}
	argPieces := map[int]int{}
	var finish string
	for i, c := range chunks {
		if c.Object != "chat.completion.chunk" {
			t.Fatalf("object %q", c.Object)
		}
		if c.Usage != nil && i != len(chunks)-1 {
			t.Fatal("usage before the last chunk")
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != "" {
				contentChunks++
				text.WriteString(ch.Delta.Content)
			}
			for _, tc := range ch.Delta.ToolCalls {
				a := calls[tc.Index]
				if a == nil {
					if tc.ID == "" || tc.Function.Name == "" {
						t.Fatalf("first delta of call %d lacks id or name", tc.Index)
					}
					a = &acc{}
					calls[tc.Index] = a
				}
				a.id += tc.ID
				a.name += tc.Function.Name
				a.args += tc.Function.Arguments
				if tc.Function.Arguments != "" {
					argPieces[tc.Index]++
				}
			}
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
	}
	if text.String() != "one two three four five" || contentChunks < 3 {
		t.Fatalf("text %q in %d chunks", text.String(), contentChunks)
	}
	if len(calls) != 2 || calls[0].id != "a" || calls[0].args != `{"text":"long enough to split"}` || argPieces[0] < 2 ||
		calls[1].name != "other" || calls[1].args != `{bad` || calls[1].id == "" {
		t.Fatalf("calls %+v %+v, pieces %v", calls[0], calls[1], argPieces)
	}
	last := chunks[len(chunks)-1]
	if finish != "tool_calls" || last.Usage == nil || last.Usage.Prompt != 11 || last.Usage.Completion != 22 || len(last.Choices) != 0 {
		t.Fatalf("finish %q last %+v", finish, last)
	}
	r := s.Requests()[0]
	if !r.Stream || !r.IncludeUsage {
		t.Fatalf("recorded %+v", r)
	}
}

func TestStreamingWithoutUsage(t *testing.T) {
	s := New(t)
	res := post(t, s, fmt.Sprintf(reqBody, `,"stream":true`))
	chunks, done := readSSE(t, res.Body)
	var text string
	for _, c := range chunks {
		if c.Usage != nil {
			t.Fatal("usage chunk without include_usage")
		}
		for _, ch := range c.Choices {
			text += ch.Delta.Content
		}
	}
	if !done || text != "ok" {
		t.Fatalf("default reply %q done %v", text, done)
	}
}

func TestScriptOrderDefaultAndErrors(t *testing.T) {
	s := New(t)
	s.Script(Reply{Status: 429, RetryAfter: "3", Text: "slow"}, Reply{Body: "garbage", Status: 502}, Reply{Text: "third"})
	res := post(t, s, fmt.Sprintf(reqBody, ""))
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "3" || !strings.Contains(string(b), `"message":"slow"`) {
		t.Fatalf("%d %s %s", res.StatusCode, res.Header, b)
	}
	res = post(t, s, fmt.Sprintf(reqBody, ""))
	b, _ = io.ReadAll(res.Body)
	if res.StatusCode != 502 || string(b) != "garbage" {
		t.Fatalf("%d %s", res.StatusCode, b)
	}
	if s.Pending() != 1 {
		t.Fatalf("pending %d", s.Pending())
	}
	// Script replaces what is left; Enqueue appends.
	s.Script(Reply{Text: "replaced"})
	s.Enqueue(Reply{Text: "appended"})
	for _, want := range []string{"replaced", "appended", "ok"} {
		res = post(t, s, fmt.Sprintf(reqBody, ""))
		b, _ = io.ReadAll(res.Body)
		if !strings.Contains(string(b), `"content":"`+want+`"`) {
			t.Fatalf("want %q: %s", want, b)
		}
	}
	s.Default = Reply{Text: "custom default"}
	res = post(t, s, fmt.Sprintf(reqBody, ""))
	b, _ = io.ReadAll(res.Body)
	if !strings.Contains(string(b), "custom default") || s.Count() != 6 {
		t.Fatalf("%s count %d", b, s.Count())
	}
}

func TestDelayIsAbandonedWhenClientGivesUp(t *testing.T) {
	s := New(t)
	s.Default = Reply{Text: "late", Delay: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/chat/completions", strings.NewReader(fmt.Sprintf(reqBody, "")))
	start := time.Now()
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("no timeout")
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("delay not abandoned")
	}
}

func TestConcurrentDelaysOverlap(t *testing.T) {
	s := New(t)
	s.Default = Reply{Text: "x", Delay: 200 * time.Millisecond}
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/chat/completions", strings.NewReader(fmt.Sprintf(reqBody, "")))
			if res, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
	wg.Wait()
	if el := time.Since(start); el > 700*time.Millisecond {
		t.Fatalf("4 delayed requests took %v: serialised", el)
	}
}

// recTB captures what the server reports at cleanup.
type recTB struct {
	*testing.T
	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

func (r *recTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestForbidRequestsFailsTheTest(t *testing.T) {
	rt := &recTB{T: t}
	s := New(rt)
	s.ForbidRequests()
	res := post(t, s, fmt.Sprintf(reqBody, ""))
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || s.Count() != 1 {
		t.Fatalf("status %d count %d", res.StatusCode, s.Count())
	}
	for i := len(rt.cleanups) - 1; i >= 0; i-- {
		rt.cleanups[i]()
	}
	if len(rt.errs) != 1 || !strings.Contains(rt.errs[0], "ForbidRequests") {
		t.Fatalf("reported %q", rt.errs)
	}

	// Without requests, nothing is reported.
	rt = &recTB{T: t}
	New(rt).ForbidRequests()
	for _, f := range rt.cleanups {
		f()
	}
	if len(rt.errs) != 0 {
		t.Fatalf("reported %q", rt.errs)
	}
}

func TestUnknownRouteAndBadJSON(t *testing.T) {
	s := New(t)
	res, err := http.Get(s.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Fatalf("status %d", res.StatusCode)
	}
	res = post(t, s, "{not json")
	if res.StatusCode != 400 || s.Count() != 1 || string(s.Requests()[0].Body) != "{not json" {
		t.Fatalf("status %d", res.StatusCode)
	}
}
