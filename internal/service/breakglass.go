package service

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	confidant "github.com/confidanthealth/confidant"
	cmail "github.com/confidanthealth/confidant/internal/mail"
	"github.com/confidanthealth/confidant/internal/policy"
)

// Break-the-glass (docs/SECURITY.md, "Break-the-glass"): a therapist
// without a care relationship may, in an emergency, open the chart of a
// patient of one of their clinics. They choose a category, write a reason
// and confirm with their second factor; they then have emergency access to
// that one patient for Config.BreakGlassTTL. The grant is an event on the
// patient's access history with its reason, every access under it is
// marked as emergency access, security officers are mailed at once and
// review every grant (justified or not), and the patient sees it all.

// BreakGlassCategory is one reason category of emergency access.
type BreakGlassCategory struct{ Code, Label string }

// BreakGlassCategories are the fixed categories, in the order forms show
// them.
var BreakGlassCategories = []BreakGlassCategory{
	{"risk_to_life", "Risk to life or safety"},
	{"urgent_clinical_need", "Urgent clinical need"},
	{"covering_absent_therapist", "Covering for an absent treating therapist"},
	{"other", "Other emergency (explained in the reason)"},
}

// BreakGlassCategoryLabel returns the label of a category code (the code
// itself if unknown).
func BreakGlassCategoryLabel(code string) string {
	for _, c := range BreakGlassCategories {
		if c.Code == code {
			return c.Label
		}
	}
	return code
}

// Limits of a break-the-glass reason: characters, and bytes (the reason is
// kept whole in the access log's purpose, which holds 2048 bytes).
const (
	minBreakGlassReason      = 10
	maxBreakGlassReason      = 2000
	maxBreakGlassReasonBytes = 1900
	maxReviewComment         = 2000
)

// EmergencyPurpose begins the purpose of every access made under a
// break-the-glass grant; the grant's id follows.
const EmergencyPurpose = "emergency access "

var (
	errCareExists = confidant.Errorf(confidant.KindConflict, "care_exists",
		"You are in this patient's care team: open the chart directly, no emergency access is needed.")
	errBreakGlassCategory = confidant.Errorf(confidant.KindInvalid, "invalid_category",
		"Choose the category of the emergency.")
	errBreakGlassReason = confidant.Errorf(confidant.KindInvalid, "invalid_reason",
		"Write the reason for emergency access: %d to %d characters (fewer with many accented letters).", minBreakGlassReason, maxBreakGlassReason)
	errReviewOutcome = confidant.Errorf(confidant.KindInvalid, "invalid_outcome",
		"The outcome of a review is justified or not_justified.")
	errReviewComment = confidant.Errorf(confidant.KindInvalid, "comment_required",
		"Explain in a comment why the emergency access was not justified.")
	errReviewCommentLong = confidant.Errorf(confidant.KindInvalid, "invalid_comment",
		"The comment can be at most %d characters.", maxReviewComment)
	errAlreadyReviewed = confidant.Errorf(confidant.KindConflict, "already_reviewed",
		"This emergency access has already been reviewed.")
)

// checkBreakGlassInput validates and normalises category and reason.
func checkBreakGlassInput(category, reason string) (string, error) {
	ok := false
	for _, c := range BreakGlassCategories {
		ok = ok || c.Code == category
	}
	if !ok {
		return "", errBreakGlassCategory
	}
	if !utf8.ValidString(reason) || strings.ContainsRune(reason, 0) {
		return "", errBreakGlassReason
	}
	reason = strings.TrimSpace(reason)
	if n := utf8.RuneCountInString(reason); n < minBreakGlassReason || n > maxBreakGlassReason || len(reason) > maxBreakGlassReasonBytes {
		return "", errBreakGlassReason
	}
	return reason, nil
}

// breakGlassPurpose is the purpose of the grant's event, as the patient
// and security officers read it.
func breakGlassPurpose(g confidant.BreakGlass) string {
	return "Emergency access (" + BreakGlassCategoryLabel(g.Category) + "), until " +
		g.ExpiresAt.UTC().Format(time.RFC3339) + ": " + g.Reason
}

// BreakGlass gives the acting therapist emergency access to patient
// patientID, of one of their clinics, without a care relationship, for
// Config.BreakGlassTTL. code is the current code of their second factor,
// checked in the grant's transaction (each code once). An unknown patient
// and one of another clinic are both NotFound; a therapist in care gets
// care_exists. Security officers are notified by mail after the grant is
// committed; a failed mail does not undo it (the review queue shows it).
func (s *Service) BreakGlass(ctx context.Context, patientID, category, reason, code string) (confidant.BreakGlass, error) {
	a, err := actor(ctx)
	if err != nil {
		return confidant.BreakGlass{}, err
	}
	if !roleMayEver(a.Role, policy.BreakGlass) {
		return confidant.BreakGlass{}, s.wrote(ctx, ActBreakGlass, patientID, "", confidant.ErrPermission)
	}
	if err := policy.Check(a, policy.BreakGlass, policy.Facts{Approved: actorFacts(a).Approved, InClinic: true}); err != nil {
		return confidant.BreakGlass{}, s.wrote(ctx, ActBreakGlass, patientID, "", err)
	}
	if reason, err = checkBreakGlassInput(category, reason); err != nil {
		return confidant.BreakGlass{}, err
	}
	if err := s.stepUpWait(ctx, a); err != nil {
		return confidant.BreakGlass{}, err
	}
	id, now := confidant.NewID(), s.clock()
	var g confidant.BreakGlass
	err = s.update(ctx, func(tx confidant.Tx) error {
		_, p, f, err := s.authorize(ctx, tx, patientID, policy.BreakGlass)
		if err != nil {
			return err
		}
		if f.ActiveCare {
			return errCareExists
		}
		if err := s.stepUp(ctx, tx, a, code); err != nil {
			return err
		}
		g = confidant.BreakGlass{
			ID: id, TherapistID: a.UserID, PatientID: p.ID, ClinicID: p.ClinicID, Category: category, Reason: reason,
			CreatedAt: now, ExpiresAt: now.Add(s.cfg.BreakGlassTTL), Status: confidant.BreakGlassOpen,
		}
		if err := tx.CreateBreakGlass(ctx, g); err != nil {
			return err
		}
		ev := s.event(ctx, ActBreakGlass, p.ID, id, confidant.OutcomeOK)
		ev.Purpose = breakGlassPurpose(g)
		return tx.Audit(ev)
	})
	if isStepUpRefusal(err) {
		// The patient was found and authorized before the code was
		// checked: the refused attempt goes on their history too.
		ev := s.event(ctx, ActBreakGlass, patientID, "", confidant.OutcomeDenied)
		ev.Purpose = "second factor not accepted"
		if rerr := s.record(ctx, ev); rerr != nil {
			return confidant.BreakGlass{}, rerr
		}
		return confidant.BreakGlass{}, s.stepUpFailed(ctx, ActBreakGlass, err)
	}
	if err := s.wrote(ctx, ActBreakGlass, patientID, "", err); err != nil {
		return confidant.BreakGlass{}, err
	}
	s.notifyBreakGlass(ctx, g)
	return g, nil
}

// breakGlassMailTimeout bounds the delivery of one notification.
const breakGlassMailTimeout = 30 * time.Second

// notifyBreakGlass mails every security officer with an address that
// emergency access was taken: who, in which clinic, which category, when
// it ends, and a link to the review queue; never the patient's name or the
// reason. It runs after the grant has committed and sends in the
// background, so that no mail server delays or refuses emergency access;
// failures are logged by ids only, and the review queue shows the grant
// whatever happens to the mail.
func (s *Service) notifyBreakGlass(ctx context.Context, g confidant.BreakGlass) {
	if s.mailer == nil {
		s.log.WarnContext(ctx, "break-glass notice not sent: no mailer", slog.String("grant", g.ID))
		return
	}
	var officers []confidant.User
	var therapist confidant.User
	var clinic confidant.Clinic
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		if officers, err = tx.ListUsers(ctx, confidant.UserFilter{Role: confidant.RoleSecurity}); err != nil {
			return err
		}
		if therapist, err = tx.User(ctx, g.TherapistID); err != nil {
			return err
		}
		clinic, err = tx.Clinic(ctx, g.ClinicID)
		return err
	})
	if err != nil {
		s.log.WarnContext(ctx, "break-glass notice not sent", slog.String("grant", g.ID), slog.String("code", confidant.CodeOf(err)))
		return
	}
	link := s.publicURL() + "/emergency-access"
	text := fmt.Sprintf(`Emergency access (break-the-glass) was taken in Confidant.

Therapist: %s (username %s)
Clinic:    %s
Category:  %s
Taken:     %s
Ends:      %s
Grant:     %s

The therapist had no care relationship with the patient. Review the
access, and record whether it was justified, in the review queue:

  %s

The patient and the reason are shown there, not in this message.
`, therapist.DisplayName, therapist.Username, clinic.Name, BreakGlassCategoryLabel(g.Category),
		g.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"), g.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"), g.ID, link)
	var msgs []cmail.Message
	var to []string // officer ids, for the log
	for _, o := range officers {
		if o.Disabled || o.Email == "" {
			continue
		}
		msgs = append(msgs, cmail.Message{To: []string{o.Email}, Subject: "Confidant: emergency access to review", Text: text})
		to = append(to, o.ID)
	}
	if len(msgs) == 0 {
		s.log.WarnContext(ctx, "break-glass notice not sent: no security officer has an address", slog.String("grant", g.ID))
		return
	}
	bg := context.WithoutCancel(ctx)
	s.mailing.Add(1)
	go func() {
		defer s.mailing.Done()
		for i, m := range msgs {
			mctx, cancel := context.WithTimeout(bg, breakGlassMailTimeout)
			if err := s.mailer.Send(mctx, m); err != nil {
				s.log.WarnContext(bg, "break-glass notice not sent", slog.String("grant", g.ID),
					slog.String("officer", to[i]), slog.String("code", confidant.CodeOf(err)))
			}
			cancel()
		}
	}()
}

// WaitMail waits for notifications being sent in the background (tests,
// and a server shutting down).
func (s *Service) WaitMail() { s.mailing.Wait() }

// BreakGlassFilterStatus selects grants by review state: "open",
// "reviewed" or "all".
func breakGlassFilter(status string) (confidant.BreakGlassFilter, error) {
	yes, no := true, false
	switch status {
	case "", "open":
		return confidant.BreakGlassFilter{Reviewed: &no}, nil
	case "reviewed":
		return confidant.BreakGlassFilter{Reviewed: &yes}, nil
	case "all":
		return confidant.BreakGlassFilter{}, nil
	}
	return confidant.BreakGlassFilter{}, confidant.Errorf(confidant.KindInvalid, "invalid_status", "The status is open, reviewed or all.")
}

// maxBreakGlassList bounds one listing of grants.
const maxBreakGlassList = 200

// ListBreakGlass returns the break-the-glass grants for security officers'
// review, newest first: status "open" (the queue; also ""), "reviewed" or
// "all". The reasons may hold clinical details: each patient listed gets
// an event on their access history, recorded before the list is returned.
func (s *Service) ListBreakGlass(ctx context.Context, status string) ([]confidant.BreakGlass, error) {
	if _, err := need(ctx, policy.ListBreakGlass); err != nil {
		return nil, s.wrote(ctx, ActBreakGlassList, "", "", err)
	}
	f, err := breakGlassFilter(status)
	if err != nil {
		return nil, err
	}
	f.Limit = maxBreakGlassList
	var gs []confidant.BreakGlass
	if err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		gs, err = tx.ListBreakGlass(ctx, f)
		return err
	}); err != nil {
		return nil, err
	}
	var evs []confidant.AuditEvent
	seen := map[string]bool{}
	for _, g := range gs {
		if !seen[g.PatientID] {
			seen[g.PatientID] = true
			evs = append(evs, s.event(ctx, ActBreakGlassList, g.PatientID, "", confidant.OutcomeOK))
		}
	}
	if len(evs) > 0 {
		if err := s.record(ctx, evs...); err != nil {
			return nil, err
		}
	}
	return gs, nil
}

// OpenBreakGlassCount is the number of grants awaiting review, for a
// security officer's navigation (no patient data, so no event).
func (s *Service) OpenBreakGlassCount(ctx context.Context) (int, error) {
	if _, err := need(ctx, policy.ListBreakGlass); err != nil {
		return 0, err
	}
	no := false
	var n int
	err := s.store.View(ctx, func(tx confidant.Tx) error {
		var err error
		n, err = tx.CountBreakGlass(ctx, confidant.BreakGlassFilter{Reviewed: &no})
		return err
	})
	return n, err
}

// ReviewBreakGlass records a security officer's review of a grant, once:
// outcome "justified" or "not_justified" (which needs a comment). The
// comment is sealed with the grant; the event on the patient's history
// holds the outcome.
func (s *Service) ReviewBreakGlass(ctx context.Context, id, outcome, comment string) (confidant.BreakGlass, error) {
	a, err := need(ctx, policy.ReviewBreakGlass)
	if err != nil {
		return confidant.BreakGlass{}, s.wrote(ctx, ActBreakGlassReview, "", id, err)
	}
	if err := checkID(id); err != nil {
		return confidant.BreakGlass{}, err
	}
	status := confidant.BreakGlassStatus(outcome)
	if status != confidant.BreakGlassJustified && status != confidant.BreakGlassNotJustified {
		return confidant.BreakGlass{}, errReviewOutcome
	}
	if !utf8.ValidString(comment) || strings.ContainsRune(comment, 0) {
		return confidant.BreakGlass{}, errReviewCommentLong
	}
	comment = strings.TrimSpace(comment)
	if utf8.RuneCountInString(comment) > maxReviewComment {
		return confidant.BreakGlass{}, errReviewCommentLong
	}
	if status == confidant.BreakGlassNotJustified && comment == "" {
		return confidant.BreakGlass{}, errReviewComment
	}
	now := s.clock()
	var g confidant.BreakGlass
	err = s.update(ctx, func(tx confidant.Tx) error {
		var err error
		if g, err = tx.BreakGlass(ctx, id); err != nil {
			return err
		}
		if g.Status != confidant.BreakGlassOpen {
			return errAlreadyReviewed
		}
		if err := tx.ReviewBreakGlass(ctx, id, status, a.UserID, now, comment); err != nil {
			return err
		}
		g.Status, g.ReviewedBy, g.ReviewedAt, g.ReviewComment = status, a.UserID, now, comment
		ev := s.event(ctx, ActBreakGlassReview, g.PatientID, id, confidant.OutcomeOK)
		ev.Purpose = "reviewed: " + strings.ReplaceAll(string(status), "_", " ")
		return tx.Audit(ev)
	})
	if err := s.wrote(ctx, ActBreakGlassReview, "", id, err); err != nil {
		return confidant.BreakGlass{}, err
	}
	return g, nil
}

// Emergency access within one request: patientFacts notes the grant that
// gave access to a patient in the request's context (withEmergency), and
// event marks the request's events about that patient with its purpose.

type emergencyKey struct{}

type emergencyUse struct {
	mu        sync.Mutex
	patientID string
	grant     confidant.ActiveGrant
}

// withEmergency prepares ctx to carry the grant a service call's access
// is made under; every call that reaches a patient's clinical records
// begins with it.
func withEmergency(ctx context.Context) context.Context {
	if _, ok := ctx.Value(emergencyKey{}).(*emergencyUse); ok {
		return ctx
	}
	return context.WithValue(ctx, emergencyKey{}, &emergencyUse{})
}

func noteEmergency(ctx context.Context, patientID string, g confidant.ActiveGrant) {
	if u, ok := ctx.Value(emergencyKey{}).(*emergencyUse); ok {
		u.mu.Lock()
		u.patientID, u.grant = patientID, g
		u.mu.Unlock()
	}
}

// emergencyFor returns the grant the call of ctx reached patientID under.
func emergencyFor(ctx context.Context, patientID string) (confidant.ActiveGrant, bool) {
	if patientID == "" {
		return confidant.ActiveGrant{}, false
	}
	u, ok := ctx.Value(emergencyKey{}).(*emergencyUse)
	if !ok {
		return confidant.ActiveGrant{}, false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.patientID != patientID || u.grant.ID == "" {
		return confidant.ActiveGrant{}, false
	}
	return u.grant, true
}

// EmergencyCandidate is a patient found by SearchForEmergency.
type EmergencyCandidate struct {
	Patient confidant.Patient // identifying fields only; no clinical content
	InCare  bool              // the therapist is in the patient's care already
}

var errEmergencyQuery = confidant.Errorf(confidant.KindInvalid, "invalid_query",
	"Enter the patient's whole identity code: a patient outside your care is found by it only.")

// SearchForEmergency finds, by a whole identity code, a patient of the
// acting therapist's clinics, in their care or not, so that they can take
// emergency access (BreakGlass). Names do not search here: a therapist
// finds a patient outside their care only by the code that identifies the
// person. Each patient found gets an event on their history.
func (s *Service) SearchForEmergency(ctx context.Context, identityCode string) ([]EmergencyCandidate, error) {
	a, err := need(ctx, policy.SearchPatients)
	if err != nil {
		return nil, err
	}
	if err := policy.Check(a, policy.BreakGlass, policy.Facts{Approved: actorFacts(a).Approved, InClinic: true}); err != nil {
		return nil, err
	}
	code, _, err := confidant.ParseIdentityCode(strings.TrimSpace(identityCode))
	if err != nil {
		return nil, errEmergencyQuery
	}
	var out []EmergencyCandidate
	err = s.store.View(ctx, func(tx confidant.Tx) error {
		out = nil
		ps, err := tx.ListPatients(ctx, confidant.PatientFilter{IdentityCode: code, Limit: searchLimit})
		if err != nil {
			return err
		}
		now := s.clock()
		for _, p := range ps {
			if !a.InClinic(p.ClinicID) {
				continue
			}
			care, err := tx.HasActiveCare(ctx, a.UserID, p.ID, now)
			if err != nil {
				return err
			}
			out = append(out, EmergencyCandidate{Patient: p, InCare: care})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	evs := make([]confidant.AuditEvent, 0, max(1, len(out)))
	for _, c := range out {
		evs = append(evs, s.event(ctx, ActSearchEmergency, c.Patient.ID, "", confidant.OutcomeOK))
	}
	if len(evs) == 0 {
		evs = append(evs, s.event(ctx, ActSearchEmergency, "", "", confidant.OutcomeOK))
	}
	if err := s.record(ctx, evs...); err != nil {
		return nil, err
	}
	return out, nil
}
