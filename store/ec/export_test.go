package ec

// NewCodecChunk returns a codec whose streaming functions hold chunk bytes
// of each slice, so that small objects cross many column boundaries.
func NewCodecChunk(l Layout, chunk int64) (*Codec, error) {
	c, err := NewCodec(l)
	if err != nil {
		return nil, err
	}
	c.chunk = chunk
	return c, nil
}
