package rulecheck

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"time"
)

// EmulatorIDToken returns an unsigned ID token (alg "none") for uid in
// project, carrying claims as custom claims, shaped like the ones the
// Auth emulator issues. The Firestore emulator started with --rules
// evaluates a request carrying it as a request of that user
// (request.auth.uid, request.auth.token.*); production Firestore rejects
// it. It is valid for an hour from now.
func EmulatorIDToken(project, uid string, claims map[string]any, now time.Time) string {
	payload := map[string]any{}
	maps.Copy(payload, claims)
	iat := now.Unix()
	provider := "custom"
	identities := map[string]any{}
	if email, ok := claims["email"].(string); ok && email != "" {
		provider = "password"
		identities["email"] = []string{email}
	}
	maps.Copy(payload, map[string]any{
		"iss":       "https://securetoken.google.com/" + project,
		"aud":       project,
		"sub":       uid,
		"user_id":   uid,
		"iat":       iat,
		"exp":       iat + 3600,
		"auth_time": iat,
		"firebase":  map[string]any{"sign_in_provider": provider, "identities": identities},
	})
	if fb, ok := claims["firebase"].(map[string]any); ok {
		merged := map[string]any{"sign_in_provider": provider, "identities": identities}
		maps.Copy(merged, fb)
		payload["firebase"] = merged
	}
	header, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	body, _ := json.Marshal(payload)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(header) + "." + enc.EncodeToString(body) + "."
}
