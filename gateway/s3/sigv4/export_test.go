package sigv4

// DerivedKeys is how many signing keys are kept.
func DerivedKeys() int {
	signingKeys.Lock()
	defer signingKeys.Unlock()
	return len(signingKeys.keys)
}
