//! Waiting for the operator to stop a long-running subcommand: Ctrl-C, or SIGTERM on Unix.
//! One place for what `hub`, `worker`, `demo` and `mock` used to write out each.

/// Ctrl-C or (on Unix) SIGTERM. The SIGTERM handler is installed when this is created, so a
/// SIGTERM that arrives before [`ShutdownSignal::wait`] is polled is not lost.
pub struct ShutdownSignal {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignal {
    /// Installs the SIGTERM handler now (Ctrl-C is watched from the first poll of `wait`).
    pub fn install() -> Self {
        ShutdownSignal {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok(),
        }
    }

    /// Resolves on Ctrl-C or SIGTERM; an error means Ctrl-C could not be watched.
    pub async fn wait(mut self) -> std::io::Result<()> {
        #[cfg(unix)]
        if let Some(term) = self.term.as_mut() {
            return tokio::select! {
                result = tokio::signal::ctrl_c() => result,
                _ = term.recv() => Ok(()),
            };
        }
        tokio::signal::ctrl_c().await
    }
}

/// Installs the handlers and waits for Ctrl-C or SIGTERM (for callers with nothing to start
/// in between).
pub async fn shutdown_signal() -> std::io::Result<()> {
    ShutdownSignal::install().wait().await
}

#[cfg(all(test, unix))]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_sigterm_sent_before_wait_ends_the_wait() {
        let signal = ShutdownSignal::install();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(10), signal.wait())
            .await
            .expect("SIGTERM ends the wait")
            .expect("Ctrl-C can be watched");
    }
}
