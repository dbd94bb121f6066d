package web

import (
	"bytes"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// skipped elements contribute no text.
var skipped = map[string]bool{"script": true, "style": true, "noscript": true, "svg": true, "template": true, "iframe": true,
	"object": true, "embed": true, "canvas": true, "head": true, "nav": true, "form": true, "button": true, "select": true}

var blocks = map[string]bool{"p": true, "div": true, "br": true, "li": true, "ul": true, "ol": true, "tr": true, "table": true,
	"section": true, "article": true, "header": true, "footer": true, "main": true, "aside": true, "blockquote": true, "pre": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "hr": true, "dl": true, "dt": true, "dd": true, "figure": true}

// HTMLToText turns a page into readable plain text: the title, headings
// marked with #, list items with -, links as "text (url)", scripts, styles
// and navigation dropped, whitespace collapsed outside <pre>.
func HTMLToText(page []byte) string {
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		return ""
	}
	var b strings.Builder
	var title string
	var findTitle func(n *html.Node)
	findTitle = func(n *html.Node) {
		if title != "" {
			return
		}
		if n.Type == html.ElementNode && n.Data == "title" && n.FirstChild != nil {
			title = strings.Join(strings.Fields(n.FirstChild.Data), " ")
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			findTitle(c)
		}
	}
	findTitle(doc)
	var walk func(n *html.Node, pre bool)
	walk = func(n *html.Node, pre bool) {
		if n.Type == html.ElementNode {
			if skipped[n.Data] || hidden(n) {
				return
			}
			if blocks[n.Data] {
				b.WriteString("\n")
			}
			switch n.Data {
			case "h1", "h2", "h3", "h4", "h5", "h6":
				b.WriteString(strings.Repeat("#", int(n.Data[1]-'0')) + " ")
			case "li":
				b.WriteString("- ")
			case "pre":
				pre = true
			case "img":
				if alt := attr(n, "alt"); alt != "" {
					b.WriteString("[image: " + alt + "]")
				}
			}
		}
		if n.Type == html.TextNode {
			if pre {
				b.WriteString(n.Data)
			} else {
				b.WriteString(collapse(n.Data))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, pre)
		}
		if n.Type == html.ElementNode {
			if n.Data == "a" {
				if href := attr(n, "href"); href != "" {
					if u, err := url.Parse(href); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
						b.WriteString(" (" + u.String() + ")")
					}
				}
			}
			if blocks[n.Data] {
				b.WriteString("\n")
			}
		}
	}
	walk(doc, false)
	out := tidy(b.String())
	if title != "" {
		out = "# " + title + "\n\n" + out
	}
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// hidden drops elements a page hides from people but a model would read:
// a favourite hiding place for injected instructions.
func hidden(n *html.Node) bool {
	if _, ok := hasAttr(n, "hidden"); ok {
		return true
	}
	if v, _ := hasAttr(n, "aria-hidden"); v == "true" {
		return true
	}
	style := strings.ReplaceAll(strings.ToLower(attr(n, "style")), " ", "")
	return strings.Contains(style, "display:none") || strings.Contains(style, "visibility:hidden") || strings.Contains(style, "font-size:0")
}

func hasAttr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func collapse(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		if s != "" {
			return " "
		}
		return ""
	}
	out := strings.Join(f, " ")
	if s[0] == ' ' || s[0] == '\n' || s[0] == '\t' {
		out = " " + out
	}
	if last := s[len(s)-1]; last == ' ' || last == '\n' || last == '\t' {
		out += " "
	}
	return out
}

// tidy trims lines and keeps at most one blank line in a row.
func tidy(s string) string {
	var out []string
	blank := true
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			if !blank {
				out = append(out, "")
			}
			blank = true
			continue
		}
		out = append(out, line)
		blank = false
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
