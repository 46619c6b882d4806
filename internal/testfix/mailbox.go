package testfix

import (
	"context"
	"regexp"
	"sync"
	"testing"

	"github.com/confidanthealth/confidant/internal/mail"
)

// Mailbox is a mail.Sender that keeps messages in memory, for tests of
// invitations.
type Mailbox struct {
	mu   sync.Mutex
	msgs []mail.Message
}

// Send keeps m.
func (b *Mailbox) Send(_ context.Context, m mail.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, m)
	return nil
}

// Describe names the mailbox.
func (b *Mailbox) Describe() string { return "test mailbox" }

// Messages returns the messages sent so far.
func (b *Mailbox) Messages() []mail.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]mail.Message(nil), b.msgs...)
}

// invitationLink finds an invitation's link (its code in the fragment).
var invitationLink = regexp.MustCompile(`/invite#([A-Z2-7]{52})`)

// InvitationCode returns the code of the last invitation mailed to addr.
func (b *Mailbox) InvitationCode(t testing.TB, addr string) string {
	t.Helper()
	msgs := b.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		for _, to := range msgs[i].To {
			if to == addr {
				if m := invitationLink.FindStringSubmatch(msgs[i].Text); m != nil {
					return m[1]
				}
			}
		}
	}
	t.Fatalf("no invitation mailed to that address (%d messages)", len(msgs))
	return ""
}
