//! Returning freed memory to the operating system.
//!
//! glibc's allocator keeps memory a process has freed for later reuse, so a start-up peak (parsing
//! a large configuration) would stay in the resident set for the life of the process. After
//! start-up, [`release_free_memory`] asks glibc to hand the free pages back.

/// Return free heap memory to the OS (`malloc_trim(0)` on glibc; nothing elsewhere).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
