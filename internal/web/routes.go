package web

import (
	"net/http"

	"github.com/confidanthealth/confidant/internal/httpx"
)

// routes lists every page. Handlers wrapped in s.auth run with the signed-in
// actor in their context; the service decides what that actor may do.
func (s *server) routes() http.Handler {
	mux := httpx.NewServeMux()
	public := func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, h) }
	private := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.auth(h)) }

	// Public: sign-in, assets, and the not-found page.
	public("GET /login", s.loginForm)
	public("POST /login", s.login)
	public("GET /login/totp", s.totpForm)
	public("POST /login/totp", s.loginTOTP)
	public("POST /login/totp/enrol", s.enrolTOTP)
	public("POST /login/recovery", s.loginRecovery)
	public("POST /login/passkey/begin", s.passkeyLoginBegin)
	public("POST /login/passkey/finish", s.passkeyLoginFinish)
	public("POST /login/passkey/enrol/begin", s.passkeyEnrolBegin)
	public("POST /login/passkey/enrol/finish", s.passkeyEnrolFinish)
	public("POST /logout", s.logout)
	public("GET /invite", s.inviteForm)
	public("POST /invite", s.acceptInvite)
	if s.sso != nil {
		public("GET /sso/start", s.ssoStart)
		public("POST /sso/link", s.ssoLink)
		public("GET /sso/callback", s.ssoCallback)
	}
	public("GET /static/{name}", s.static)
	public("/", s.notFound)

	private("GET /{$}", s.home)
	private("GET /sessions", s.sessionsPage)
	private("POST /sessions/{id}/end", s.endSessionForm)
	private("POST /notices/read", s.readNotices)
	private("GET /password", s.passwordForm)
	private("POST /password", s.changePassword)
	private("GET /account/sign-in", s.signInMethods)
	private("POST /account/passkeys/begin", s.passkeyRegisterBegin)
	private("POST /account/passkeys/finish", s.passkeyRegisterFinish)
	private("POST /account/passkeys/{id}/remove", s.removePasskey)
	private("POST /account/recovery-codes", s.regenerateRecoveryCodes)
	private("POST /account/step-up/begin", s.stepUpBegin)
	private("POST /account/step-up/finish", s.stepUpFinish)

	// Therapist: patients and charts.
	private("GET /patients", s.myPatients)
	private("POST /patients/search", s.searchPatients)
	private("POST /patients/emergency-search", s.emergencySearch)
	private("GET /patients/{id}/emergency", s.emergencyForm)
	private("POST /patients/{id}/emergency", s.breakGlass)
	private("GET /patients/new", s.newPatientForm)
	private("POST /patients", s.createPatient)
	private("GET /patients/{id}", s.chart)
	private("POST /patients/{id}/process-notes", s.createProcessNote)
	private("POST /patients/{id}/attachments", s.uploadAttachment)
	private("GET /attachments/{id}", s.downloadAttachment)

	// Therapist: session notes.
	private("GET /patients/{id}/notes/new", s.newNoteForm)
	private("POST /patients/{id}/notes", s.createNote)
	private("GET /notes/{id}", s.note)
	private("POST /notes/{id}/draft", s.saveDraft)
	private("POST /notes/{id}/sign", s.signNote)
	private("POST /notes/{id}/amend", s.amendNote)
	private("POST /notes/{id}/release", s.releaseNote)

	// Therapist: diagnoses, treatment plan, outcome measures.
	private("GET /patients/{id}/diagnoses/new", s.newDiagnosisForm)
	private("POST /patients/{id}/diagnoses", s.addDiagnosis)
	private("POST /diagnoses/{id}/status", s.setDiagnosisStatus)
	private("GET /patients/{id}/plan", s.planForm)
	private("POST /patients/{id}/plan", s.savePlan)
	private("GET /patients/{id}/measures/{instrument}", s.measureForm)
	private("POST /patients/{id}/measures/{instrument}", s.recordMeasure)

	// Patient portal.
	private("GET /record", s.myRecord)
	private("GET /record/access", s.myAccessLog)
	private("GET /record/access/{index}/proof", s.accessProof)

	// Clinic manager: clinics, staff, patients' care relationships.
	private("GET /clinics", s.clinics)
	private("POST /clinics", s.createClinic)
	private("GET /clinics/{cid}", s.clinic)
	private("POST /clinics/{cid}", s.updateClinic)
	private("GET /clinics/{cid}/staff", s.staff)
	private("POST /clinics/{cid}/staff", s.createStaff)
	private("GET /clinics/{cid}/staff/{uid}", s.staffMember)
	private("POST /clinics/{cid}/staff/{uid}", s.updateStaff)
	private("GET /clinics/{cid}/patients", s.clinicPatients)
	private("POST /clinics/{cid}/patients/search", s.clinicPatients)
	private("GET /clinics/{cid}/patients/new", s.newClinicPatientForm)
	private("POST /clinics/{cid}/patients", s.createClinicPatient)
	private("GET /clinics/{cid}/patients/{pid}", s.clinicPatient)
	private("POST /clinics/{cid}/patients/{pid}/care", s.assignCare)
	private("POST /clinics/{cid}/patients/{pid}/account", s.createPatientAccount)
	private("POST /care/{id}/end", s.endCare)

	// Security officer: accounts.
	private("GET /accounts", s.accounts)
	private("POST /accounts/{id}/disabled", s.setAccountDisabled)
	private("GET /accounts/throttled", s.throttled)
	private("POST /accounts/throttled/{id}/clear", s.clearThrottle)
	private("POST /accounts/{id}/approve", s.approveAccount)
	private("POST /accounts/{id}/reset", s.resetAccount)

	// Security officer: emergency access (break-the-glass) review.
	private("GET /emergency-access", s.emergencyAccess)
	private("POST /emergency-access/{id}/review", s.reviewEmergencyAccess)

	// Security officers and the DPO: alerts and honeytokens.
	private("GET /alerts", s.alerts)
	private("POST /alerts/{id}/{action}", s.alertAction)
	private("GET /honeytokens", s.honeytokens)
	private("POST /honeytokens", s.createHoneytoken)
	// Security officers and the DPO: the incident register.
	private("GET /incidents", s.incidents)
	private("POST /incidents", s.openIncident)
	private("GET /incidents/{id}", s.incident)
	private("POST /incidents/{id}/awareness", s.incidentPost("incident-awareness", s.incidentAwareness))
	private("POST /incidents/{id}/decisions", s.incidentPost("incident-decision", s.incidentDecision))
	private("POST /incidents/{id}/notification", s.incidentPost("incident-notification", s.incidentNotification))
	private("POST /incidents/{id}/rescope", s.incidentPost("incident-rescoped", s.incidentRescope))
	private("POST /incidents/{id}/close", s.incidentPost("incident-closed", s.incidentClose))
	private("POST /incidents/{id}/letters", s.incidentPost("incident-letters", s.incidentLetters))
	private("GET /incidents/{id}/regulator-notification.pdf", s.incidentPDF)
	private("GET /incidents/{id}/regulator-notification.json", s.incidentJSON)
	// Patients: breach notification letters.
	private("GET /record/letters", s.myLetters)
	// Security officers and the DPO: recipients of alerts, the outbox,
	// the board digest.
	private("GET /recipients", s.recipients)
	private("POST /recipients", s.proposeRecipient)
	private("POST /recipients/{id}/remove", s.proposeRecipientRemoval)
	private("POST /recipients/changes/{id}/approve", s.approveRecipientChange)
	private("GET /board-digest", s.boardDigest)

	// Security officer: the access log.
	private("GET /dashboard", s.dashboard)
	private("GET /access-log", s.accessLog)
	private("GET /access-log/scope", s.accessScope)

	return mux
}
