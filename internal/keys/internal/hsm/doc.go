// Package hsm keeps the KEK in a PKCS#11 token (an HSM, or SoftHSM2 in
// tests) and offers it as a tink.AEAD computed inside the token with
// CKM_AES_GCM. The key is generated in the token as sensitive and
// non-extractable; its value never enters this process.
//
// Errors that mean "the token cannot be used" (module, token, PIN, key
// label, session, device) are *confidant.Error of KindUnavailable with code
// "kek_unavailable" and a message naming the module, token or label, never
// the PIN. A ciphertext that does not authenticate is a plain error.
//
// Everything but this comment is built only with the build tag pkcs11
// (cgo); without it the package is empty.
package hsm
