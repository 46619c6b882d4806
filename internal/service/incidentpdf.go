package service

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
	confidant "github.com/confidanthealth/confidant"
)

// RegulatorNotificationPDF renders the notification to the supervisory
// authority (RegulatorNotification) as a PDF: numbers and categories,
// never a patient id. Text is written in the core fonts through fpdf's
// cp1252 translator, which covers Finnish and Swedish letters (ä, ö, å).
func (s *Service) RegulatorNotificationPDF(ctx context.Context, id string) ([]byte, error) {
	r, err := s.RegulatorNotification(ctx, id)
	if err != nil {
		return nil, err
	}
	return RenderRegulatorPDF(r)
}

// RenderRegulatorPDF renders a regulator notification.
func RenderRegulatorPDF(r RegulatorReport) ([]byte, error) {
	pdf := fpdf.New("P", "mm", "A4", "")
	// Uncompressed: a few kilobytes, and what it says (and that it names
	// no patient) can be checked with a plain text search.
	pdf.SetCompression(false)
	tr := pdf.UnicodeTranslatorFromDescriptor("cp1252")
	pdf.SetTitle("Personal data breach notification "+r.IncidentID, true)
	pdf.SetCreator("Confidant", true)
	pdf.SetCreationDate(r.GeneratedAt)
	pdf.SetModificationDate(r.GeneratedAt)
	pdf.SetMargins(18, 18, 18)
	pdf.SetAutoPageBreak(true, 18)
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 15)
	pdf.MultiCell(0, 7, tr("Notification of a personal data breach (GDPR Art. 33) and NIS2 Art. 23 facts"), "", "L", false)
	pdf.SetFont("Helvetica", "", 9)
	pdf.MultiCell(0, 5, tr("To the supervisory authority (in Finland: the Office of the Data Protection Ombudsman). Generated "+
		pdfTime(r.GeneratedAt)+" from the incident register."), "", "L", false)
	pdf.Ln(3)
	section := func(title string) {
		pdf.Ln(2)
		pdf.SetFont("Helvetica", "B", 11)
		pdf.MultiCell(0, 6, tr(title), "B", "L", false)
		pdf.SetFont("Helvetica", "", 10)
	}
	field := func(label, value string) {
		if value == "" {
			value = "-"
		}
		pdf.SetFont("Helvetica", "B", 10)
		pdf.MultiCell(0, 5, tr(label), "", "L", false)
		pdf.SetFont("Helvetica", "", 10)
		pdf.MultiCell(0, 5, tr(value), "", "L", false)
		pdf.Ln(1)
	}
	section("Controller")
	field("Controller", r.Controller)
	field("Data protection officer (name and contact details)", r.DPOContact)
	field("Incident", r.IncidentID+" - "+r.Title)
	field("Status", string(r.Status))

	section("Times")
	field("First alert", pdfTime(r.FirstAlertAt))
	field("Incident opened", pdfTime(r.OpenedAt))
	field("Controller became aware", pdfTime(r.AwarenessAt))
	field("NIS2 early warning due (24 h)", pdfTime(r.EarlyWarningDeadline))
	field("GDPR notification due (72 h)", pdfTime(r.RegulatorDeadline))
	if r.Late {
		field("Reasons for the delay (Art. 33(1))", "This notification is made after 72 hours from awareness; the reasons are given in the decisions below.")
	}
	field("Period of the breach (scope)", pdfTime(r.ScopeFrom)+" - "+pdfTime(r.ScopeTo))

	section("The breach (Art. 33(3))")
	field("(a) Nature of the breach", r.Nature)
	field("(a) Categories of data subjects", r.SubjectCategories)
	field("(a) Approximate number of data subjects", fmt.Sprint(r.SubjectsApprox))
	field("(a) Categories of personal data records", r.RecordCategories)
	field("(a) Approximate number of personal data records", fmt.Sprint(r.RecordsApprox))
	field("(c) Likely consequences", r.Consequences)
	field("(d) Measures taken or proposed", r.Measures)

	section("Scope from the access log")
	field("Patients whose records were accessed", fmt.Sprint(r.PatientsInScope))
	field("Kinds of records", strings.Join(r.RecordKinds, ", "))
	field("Access-log checkpoint (size, root)", fmt.Sprintf("%d, %s", r.CheckpointSize, r.CheckpointRoot))
	field("Letters sent to data subjects (Art. 34)", fmt.Sprint(r.LettersSent))

	section("Decisions")
	if len(r.Decisions) == 0 {
		pdf.MultiCell(0, 5, "-", "", "L", false)
	}
	for _, d := range r.Decisions {
		field(pdfTime(d.At)+" "+d.By, d.Text)
	}
	if r.Conclusion != "" {
		section("Conclusion")
		pdf.MultiCell(0, 5, tr(r.Conclusion), "", "L", false)
	}
	var b bytes.Buffer
	if err := pdf.Output(&b); err != nil {
		return nil, confidant.Wrap(err, confidant.KindInternal, "pdf_failed", "The PDF could not be made.")
	}
	return b.Bytes(), nil
}

func pdfTime(t time.Time) string {
	if t.IsZero() {
		return "not set"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
