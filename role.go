package confidant

import (
	"context"
	"log/slog"
)

// Role is what an account is for. A role decides which actions are possible
// at all; care relationships and authorship decide on which records.
type Role string

// Roles, see DESIGN.md section 2.
const (
	RoleTherapist Role = "therapist"
	RolePatient   Role = "patient"
	RoleManager   Role = "manager"  // clinic manager: staff, clinics, care relationships; never clinical content
	RoleSecurity  Role = "security" // security officer: accounts and access-log metadata only
	// RoleDPO is the organisation's data protection officer: sees alerts,
	// incidents and access-log metadata, never clinical content; sets the
	// awareness time of an incident (GDPR Art. 33) and closes incidents.
	RoleDPO Role = "dpo"
)

// Roles lists every role, in display order.
var Roles = []Role{RoleTherapist, RolePatient, RoleManager, RoleSecurity, RoleDPO}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, x := range Roles {
		if r == x {
			return true
		}
	}
	return false
}

// Staff reports whether r is a staff role (MFA will be mandatory for these).
func (r Role) Staff() bool {
	return r == RoleTherapist || r == RoleManager || r == RoleSecurity || r == RoleDPO
}

// Label is the human name of the role.
func (r Role) Label() string {
	switch r {
	case RoleTherapist:
		return "Therapist"
	case RolePatient:
		return "Patient"
	case RoleManager:
		return "Clinic manager"
	case RoleSecurity:
		return "Security officer"
	case RoleDPO:
		return "Data protection officer"
	}
	return string(r)
}

// Actor is the authenticated party on whose behalf a request runs. It is
// established by the transport from a session and carried in the context;
// every service method reads it with ActorFrom and fails closed without it.
type Actor struct {
	UserID    string
	Username  string
	Role      Role
	PatientID string   // set for RolePatient: the patient this account belongs to
	ClinicIDs []string // clinics the staff member belongs to
	SessionID string   // opaque id of the session (not the token)
	Client    string   // client address, for the access log
	// AwaitingApproval: a therapist account no security officer has
	// approved yet (User.AwaitingApproval, read at each request).
	AwaitingApproval bool
}

// LogValue logs ids only.
func (a Actor) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", a.UserID), slog.String("role", string(a.Role)))
}

// InClinic reports whether the actor is a member of clinic id.
func (a Actor) InClinic(id string) bool {
	for _, c := range a.ClinicIDs {
		if c == id {
			return true
		}
	}
	return false
}

type actorKey struct{}

// WithActor returns a context carrying a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor in ctx. It returns ErrUnauthenticated when there
// is none, so callers fail closed.
func ActorFrom(ctx context.Context) (Actor, error) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	if !ok || a.UserID == "" || !a.Role.Valid() {
		return Actor{}, ErrUnauthenticated
	}
	return a, nil
}

type clientKey struct{}

// WithClient returns a context carrying the client's network address, for
// the access log of requests made before sign-in.
func WithClient(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientKey{}, addr)
}

// ClientFrom returns the client address set by WithClient, or "".
func ClientFrom(ctx context.Context) string {
	s, _ := ctx.Value(clientKey{}).(string)
	return s
}

type agentKey struct{}

// WithAgent returns a context carrying a short description of the client
// software (its User-Agent, cut to 200 printable characters), shown to the
// user in their list of sessions and in notices of new sign-ins.
func WithAgent(ctx context.Context, ua string) context.Context {
	return context.WithValue(ctx, agentKey{}, CleanAgent(ua))
}

// AgentFrom returns the client description set by WithAgent, or "".
func AgentFrom(ctx context.Context) string {
	s, _ := ctx.Value(agentKey{}).(string)
	return s
}

// CleanAgent keeps the printable ASCII of a User-Agent header, at most 200
// characters of it.
func CleanAgent(ua string) string {
	b := make([]byte, 0, min(len(ua), 200))
	for i := 0; i < len(ua) && len(b) < 200; i++ {
		if c := ua[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		}
	}
	return string(b)
}
