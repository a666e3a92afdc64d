use clap::Parser;

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    let cli = joygate::cli::Cli::parse();
    if !cli.serves() {
        end_quietly_on_a_closed_pipe();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(blocking_threads())
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    runtime.block_on(joygate::cli::run(cli))
}

/// A command whose output goes to a pipe that closes (`joygate rewards list | head`) ends as
/// other command-line tools do, instead of panicking in `println!`: Rust ignores SIGPIPE by
/// default, so the default action is restored (not for `serve`, whose sockets are written with
/// MSG_NOSIGNAL anyway, and whose log must not end it).
fn end_quietly_on_a_closed_pipe() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: restores the default action of one signal before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The threads for blocking work: benefit signatures, key generation, file reads (token
/// signatures have their own, `domain::identity::signer`). Tokio's default allows 512 and
/// starts one whenever none is idle at that instant: 64 connections asking for tokens grew the
/// process to ~230 threads and 4 MB more heap (each thread's stack and allocator caches) for no
/// more signatures per second than the cores can make.
fn blocking_threads() -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    (4 * cores).clamp(8, 128)
}

/// glibc gives each thread that allocates under contention an arena of its own (up to 8 per
/// core) and keeps what it freed there; two arenas serve our few threads as fast and hold
/// ~20 % less memory after load (README "Benchmarks", `MALLOC_ARENA_MAX` measured 1, 2 and
/// unset). `MALLOC_ARENA_MAX` in the environment still wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
