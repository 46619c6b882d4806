package web

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// The CSP forbids inline script and style. These checks keep the templates
// from relying on them: no <script> with a body, no style attributes or
// <style> elements, no on* event handler attributes.
func TestTemplatesHaveNoInlineScriptOrStyle(t *testing.T) {
	var (
		inlineScript = regexp.MustCompile(`(?is)<script\b[^>]*>\s*[^<\s]`)
		styleAttr    = regexp.MustCompile(`(?i)\sstyle\s*=`)
		styleElem    = regexp.MustCompile(`(?i)<style\b`)
		eventAttr    = regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`)
		jsURL        = regexp.MustCompile(`(?i)(href|src|action)\s*=\s*"\s*javascript:`)
	)
	n := 0
	err := fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := templateFS.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		src := string(b)
		for name, re := range map[string]*regexp.Regexp{
			"inline <script> body": inlineScript, "style attribute": styleAttr, "<style> element": styleElem,
			"event handler attribute": eventAttr, "javascript: URL": jsURL,
		} {
			if m := re.FindString(src); m != "" {
				t.Errorf("%s: %s: %q", path, name, m)
			}
		}
		if strings.Contains(src, "template.HTML") || strings.Contains(src, "safeHTML") {
			t.Errorf("%s: bypasses escaping", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("scanned only %d templates", n)
	}
}

// The checks above must catch what they are meant to catch.
func TestTemplateScanCatches(t *testing.T) {
	eventAttr := regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`)
	for _, bad := range []string{`<button onclick="x()">`, `<body onload=go()>`, `<a href="#" ONMOUSEOVER='x'>`} {
		if !eventAttr.MatchString(bad) {
			t.Errorf("event attribute not caught: %s", bad)
		}
	}
	if eventAttr.MatchString(`<input name="one" value="x">`) {
		t.Errorf("false positive")
	}
}

func TestStaticJSHasNoEval(t *testing.T) {
	b, err := staticFS.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"eval(", "new Function", "innerHTML", "document.write"} {
		if strings.Contains(string(b), bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}
