package datasets

// OnSyncDir calls hook with each directory WriteLocal syncs, before
// syncing it, and returns the restore.
func OnSyncDir(hook func(dir string)) func() {
	old := syncDir
	syncDir = func(dir string) error {
		hook(dir)
		return old(dir)
	}
	return func() { syncDir = old }
}
