package service

import (
	"context"

	confidant "github.com/confidanthealth/confidant"
)

// signedIn runs after every completed sign-in (password and second factor,
// whichever factor it was), outside its transaction: the place for what a
// sign-in sets off (notices of sign-ins from a new client). It never
// fails the sign-in.
func (s *Service) signedIn(ctx context.Context, u confidant.User, sess confidant.Session) {
	_, _, _ = ctx, u, sess
}
