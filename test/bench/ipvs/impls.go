package main

// implementations lists what the benchmark measures, seesaw's modes first.
func implementations() ([]impl, error) {
	var out []impl
	ss, err := seesawImpls()
	if err != nil {
		return nil, err
	}
	out = append(out, ss...)
	m, err := mobyImpl()
	if err != nil {
		return nil, err
	}
	c, err := cloudflareImpl()
	if err != nil {
		return nil, err
	}
	return append(out, m, c, ipvsadmImpl()), nil
}
