package web

import (
	"cmp"
	"net/http"
	"net/url"
	"time"

	confidant "github.com/confidanthealth/confidant"
	"github.com/confidanthealth/confidant/internal/httpx"
	"github.com/confidanthealth/confidant/internal/service"
	qrcode "github.com/skip2/go-qrcode"
)

// The second step of signing in: after a correct password, an account with
// a second factor gets a pending sign-in (service.LoginResult.MFAToken),
// kept in its own cookie (HttpOnly, SameSite=Strict, Secure as the session
// cookie, gone after service.MFALife), and is asked for a TOTP code; an
// account without one yet sets up an authenticator app first.

// setMFACookie stores the token of a pending sign-in.
func (s *server) setMFACookie(w http.ResponseWriter, token string, life time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: s.mfaCookie, Value: token, Path: "/", MaxAge: int(life / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode,
	})
}

func (s *server) clearMFACookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: s.mfaCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode,
	})
}

// mfaToken returns the pending sign-in's token from its cookie, or "".
func (s *server) mfaToken(r *http.Request) string {
	c, err := r.Cookie(s.mfaCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// totpURL is the code page, returning to next (a local path) afterwards.
func totpURL(next string) string {
	if next == "" || next == "/" {
		return "/login/totp"
	}
	return "/login/totp?" + url.Values{"next": {next}}.Encode()
}

type totpView struct {
	page
	Next    string
	Enrol   bool // the account has no second factor yet
	Pending bool // an enrolment was started: its secret is in the user's app
	Passkey bool // the account has a passkey ("Use a passkey")
	TOTP    bool // the account has an authenticator app
	// RecoveryOpen opens the recovery code form (after a wrong code).
	RecoveryOpen bool
	// Set on the enrolment page only, once.
	SecretGroups []string // the base32 secret in groups of four
	URI          string   // otpauth://totp/...
	QR           *qrView
}

// newTOTPView is the code page's data for a request.
func (s *server) newTOTPView(r *http.Request, next string) *totpView {
	v := &totpView{page: s.page(r, "Second factor"), Next: safeNext(next)}
	if v.Next == "/" {
		v.Next = ""
	}
	return v
}

// mfaExpired ends a pending sign-in that the service no longer knows.
func (s *server) mfaExpired(w http.ResponseWriter, r *http.Request) {
	s.clearMFACookie(w)
	redirect(w, r, "/login", "mfa-expired")
}

// totpForm: GET /login/totp asks for the code, or offers to set up an
// authenticator app.
func (s *server) totpForm(w http.ResponseWriter, r *http.Request) {
	tok := s.mfaToken(r)
	if tok == "" {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	st, err := s.svc.MFAStatus(r.Context(), tok)
	if confidant.CodeOf(err) == "mfa_expired" {
		s.mfaExpired(w, r)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := s.newTOTPView(r, r.URL.Query().Get("next"))
	v.Enrol, v.Pending, v.Passkey, v.TOTP = st.Enrol, st.Pending, st.Passkey, st.TOTP
	s.render(w, r, http.StatusOK, "login-totp", v)
}

// enrolTOTP: POST /login/totp/enrol shows a new secret once, with its
// otpauth URI and QR code, and asks for its first code.
func (s *server) enrolTOTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, invalid("invalid_form", "The form could not be read."))
		return
	}
	v := s.newTOTPView(r, r.PostForm.Get("next"))
	e, err := s.svc.BeginTOTPEnrolment(r.Context(), s.mfaToken(r))
	switch {
	case err == nil:
	case confidant.CodeOf(err) == "mfa_expired":
		s.mfaExpired(w, r)
		return
	case confidant.CodeOf(err) == "totp_enrolled":
		http.Redirect(w, r, totpURL(v.Next), http.StatusSeeOther)
		return
	default:
		s.fail(w, r, err)
		return
	}
	v.Enrol, v.Pending = true, true
	v.SecretGroups = groupsOf(e.Secret, 4)
	v.URI = e.URI
	v.QR = newQR(e.URI)
	s.render(w, r, http.StatusOK, "totp-enrol", v)
}

// loginTOTP: POST /login/totp completes the sign-in with a code.
func (s *server) loginTOTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, invalid("invalid_form", "The form could not be read."))
		return
	}
	v := s.newTOTPView(r, r.PostForm.Get("next"))
	tok := s.mfaToken(r)
	res, err := s.svc.LoginTOTP(r.Context(), tok, r.PostForm.Get("code"), service.SessionWeb, httpx.ClientAddr(r))
	if err != nil {
		s.secondFactorFailed(w, r, v, tok, err)
		return
	}
	s.clearMFACookie(w)
	s.setCookie(w, res.Token)
	if len(res.RecoveryCodes) > 0 {
		// The first code of a new app: the recovery codes, shown once.
		s.render(w, r, http.StatusOK, "recovery-codes", &recoveryCodesView{
			page: s.page(r, "Your recovery codes"), Codes: res.RecoveryCodes, Next: cmp.Or(v.Next, "/"),
		})
		return
	}
	http.Redirect(w, r, cmp.Or(v.Next, "/"), http.StatusSeeOther)
}

// groupsOf cuts s into groups of n characters, for reading aloud or typing.
func groupsOf(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// qrView is a QR code as the template draws it: an SVG of Size x Size
// modules with a dark square at each Cell (the quiet zone included).
type qrView struct {
	Size  int // modules
	Px    int // the drawn width and height in CSS pixels
	Cells []qrCell
}

type qrCell struct{ X, Y int }

// newQR returns the QR code of text (medium error correction, with its
// quiet zone), or nil if text does not fit in one.
func newQR(text string) *qrView {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return nil
	}
	bm := q.Bitmap()
	v := &qrView{Size: len(bm), Px: 5 * len(bm)}
	for y, row := range bm {
		for x, dark := range row {
			if dark {
				v.Cells = append(v.Cells, qrCell{x, y})
			}
		}
	}
	return v
}

// secondFactorFailed answers a refused second step (a code, a recovery
// code): back to the password when the pending sign-in is gone, else the
// code page again with the reason.
func (s *server) secondFactorFailed(w http.ResponseWriter, r *http.Request, v *totpView, tok string, err error) {
	httpx.LogError(s.log, r, err)
	setRetryAfter(w, err)
	if confidant.CodeOf(err) == "mfa_expired" || confidant.CodeOf(err) == "invalid_credentials" {
		s.clearMFACookie(w)
		lv := &loginView{page: s.page(r, "Sign in"), Next: v.Next}
		lv.Error = confidant.MessageOf(err)
		s.render(w, r, httpx.Status(err), "login", lv)
		return
	}
	if st, serr := s.svc.MFAStatus(r.Context(), tok); serr == nil {
		v.Enrol, v.Pending, v.Passkey, v.TOTP = st.Enrol, st.Pending, st.Passkey, st.TOTP
	}
	v.Error = confidant.MessageOf(err)
	s.render(w, r, httpx.Status(err), "login-totp", v)
}
