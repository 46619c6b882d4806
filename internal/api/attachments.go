package api

import (
	"bufio"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
)

// uploadAttachment: POST /api/v1/patients/{id}/attachments. The request
// body is the file itself (not multipart), streamed to the service, which
// detects the type from the bytes and enforces the allow-list and the size
// limit. The file name comes from a Content-Disposition header's filename
// parameter (a ?filename= in the URL is refused: use_content_disposition).
func (h *handler) uploadAttachment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	limit := h.svc.Config().MaxAttachment
	if r.ContentLength > limit {
		// Refuse before reading a byte of the body.
		return confidant.Errorf(confidant.KindTooLarge, "attachment_too_large", "The file is larger than the limit of %d MiB.", limit>>20)
	}
	// A multipart form would be stored as its raw encoding. (A declared
	// application/x-www-form-urlencoded is let through: it is curl's default
	// for --data-binary, and the type is detected from the bytes anyway.)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); strings.HasPrefix(mt, "multipart/") {
		return confidant.Errorf(confidant.KindUnsupported, "unsupported_media_type", "Send the file itself as the request body, not a multipart form.")
	}
	// A file name is personal data: it travels in a header, never in the
	// URL (the old ?filename= is refused).
	if r.URL.Query().Has("filename") {
		return errUseContentDisposition
	}
	name := uploadFilename(r.Header)
	// One byte over the limit may be read, so that the service (which reads
	// at most limit+1 bytes) is the one to say "too large"; the
	// MaxBytesReader makes the server stop reading a longer body there.
	body := http.MaxBytesReader(w, r.Body, limit+1)
	att, err := h.svc.UploadAttachment(r.Context(), id, name, body)
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"attachments/"+att.ID)
	writeJSON(w, http.StatusCreated, newAttachmentView(att))
	return nil
}

// errUseContentDisposition answers the old upload form with ?filename=.
var errUseContentDisposition = confidant.Errorf(confidant.KindInvalid, "use_content_disposition",
	"File names are not accepted in a URL: send the name in a Content-Disposition: attachment; filename=\"...\" header (filename*=UTF-8''... for other than ASCII) of POST /api/v1/patients/{id}/attachments.")

// uploadFilename returns the file name of an upload's Content-Disposition
// header, or "" when there is none or it does not parse.
func uploadFilename(h http.Header) string {
	if _, params, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil {
		return params["filename"]
	}
	return ""
}

// downloadAttachment: GET /api/v1/attachments/{id} streams the file as a
// download. The content type is the one detected at upload.
func (h *handler) downloadAttachment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	att, rd, err := h.svc.OpenAttachment(r.Context(), id)
	if err != nil {
		return err
	}
	// Read the first chunk before committing to a 200, so that a failure
	// there is still a proper error response.
	src := &readErrors{r: rd}
	br := bufio.NewReaderSize(src, 64<<10)
	if _, err := br.Peek(1); err != nil && err != io.EOF {
		return err
	}
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": att.Filename})
	if disp == "" {
		disp = "attachment"
	}
	hd := w.Header()
	hd.Set("Content-Type", att.ContentType)
	hd.Set("Content-Length", strconv.FormatInt(att.Size, 10))
	hd.Set("Content-Disposition", disp)
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, br); err != nil {
		// Too late for an error response; the short body (against
		// Content-Length) tells the client the download failed. Only a
		// failure on our side is an error; a client that went away is not.
		kind := confidant.KindInvalid
		if src.err != nil {
			kind = confidant.KindInternal
		}
		httpx.LogError(h.log, r, confidant.Wrap(err, kind, "attachment_stream", ""))
	}
	return nil
}

// readErrors remembers the first read error of r other than io.EOF, to tell
// a failing store from a failing client connection.
type readErrors struct {
	r   io.Reader
	err error
}

func (e *readErrors) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}
