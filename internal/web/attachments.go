package web

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
)

// multipartSlack is what a request may carry beyond the largest allowed
// file: boundaries, part headers and the form's other fields.
const multipartSlack = 64 << 10

// uploadAttachment streams the file part of a multipart form straight into
// the service, which reads it chunk by chunk and refuses it when it is too
// large or of a disallowed type. Nothing is buffered here and nothing is
// written to disk.
func (s *server) uploadAttachment(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	r.Body = http.MaxBytesReader(w, r.Body, s.svc.Config().MaxAttachment+multipartSlack)
	err := streamUpload(r, func(name string, rd io.Reader) error {
		_, err := s.svc.UploadAttachment(r.Context(), id, name, rd)
		return err
	})
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		err = confidant.Errorf(confidant.KindTooLarge, "attachment_too_large",
			"The file is larger than the limit of %d MiB.", s.svc.Config().MaxAttachment>>20)
	}
	if err != nil {
		s.chartFail(w, r, err, func(v *chartView, msg string) { v.UploadError = msg })
		return
	}
	redirect(w, r, "/patients/"+id, "uploaded")
}

var errNoFile = confidant.Errorf(confidant.KindInvalid, "missing_file", "Choose a file to attach.")

// streamUpload finds the "file" part of r's multipart form and passes its
// file name and contents to upload.
func streamUpload(r *http.Request, upload func(name string, rd io.Reader) error) error {
	mr, err := r.MultipartReader()
	if err != nil {
		return confidant.Wrap(err, confidant.KindInvalid, "invalid_form", "The upload could not be read. Choose a file and try again.")
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return errNoFile
		}
		if err != nil {
			return confidant.Wrap(err, confidant.KindInvalid, "invalid_form", "The upload could not be read. Choose a file and try again.")
		}
		if part.FormName() != "file" {
			continue // NextPart skips the rest of this part
		}
		if part.FileName() == "" {
			return errNoFile
		}
		return upload(part.FileName(), part)
	}
}

// downloadAttachment streams an attachment as a download, never inline: a
// file from a patient's chart must not run as a page of this origin.
func (s *server) downloadAttachment(w http.ResponseWriter, r *http.Request) {
	att, rd, err := s.svc.OpenAttachment(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Read the first chunk before committing to a 200, so that a failing
	// store still yields an error page.
	br := bufio.NewReaderSize(rd, confidant.AttachmentChunkSize)
	if _, err := br.Peek(1); err != nil && err != io.EOF {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", att.ContentType)
	h.Set("Content-Disposition", contentDisposition(att.Filename))
	h.Set("Content-Length", strconv.FormatInt(att.Size, 10))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "no-store")
	if _, err := io.Copy(w, br); err != nil {
		// The status is sent; all we can do is log and cut the response.
		httpx.LogError(s.log, r, confidant.Wrap(err, confidant.KindInternal, "download_failed", "download interrupted"))
	}
}

// contentDisposition returns an attachment disposition with an ASCII
// fallback name and the exact name in RFC 5987 encoding.
func contentDisposition(name string) string {
	var ascii strings.Builder
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune("._- ()", c):
			ascii.WriteRune(c)
		default:
			ascii.WriteByte('_')
		}
	}
	fallback := strings.TrimSpace(ascii.String())
	if fallback == "" || strings.Trim(fallback, "._") == "" {
		fallback = "attachment"
	}
	var enc strings.Builder
	for _, b := range []byte(name) {
		if b < 0x80 && (b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("!#$&+-.^_`|~", b) >= 0) {
			enc.WriteByte(b)
		} else {
			fmt.Fprintf(&enc, "%%%02X", b)
		}
	}
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, fallback, enc.String())
}
