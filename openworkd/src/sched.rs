//! How the daemon's threads are scheduled.
//!
//! A write goes from an async worker to a blocking thread and back, and
//! concurrent writes wake one another (the workspace's lock, the journal's
//! rounds). Under Linux's normal policy a thread that is woken may preempt
//! the one that woke it at once, so most of those wake-ups are switches
//! between the daemon's own threads before the waker could finish. The
//! batch policy (`SCHED_BATCH`) keeps a thread's share of the CPU and its
//! nice value; it only keeps a woken thread from preempting the running one
//! (BENCHMARKS.md: about a tenth less CPU a write with eight writers).

use crate::config::CpuScheduling;

/// Put the calling thread under `policy`; threads it starts afterwards
/// inherit it, so this runs before any other thread is started. Only the
/// normal and batch policies are switched between: another one (say a
/// service manager's `CPUSchedulingPolicy=idle`) is the operator's and is
/// kept. A no-op outside Linux.
#[cfg(target_os = "linux")]
pub fn apply(policy: CpuScheduling) -> Result<(), String> {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy as Normal, ThreadSchedulePolicy as Policy,
        set_thread_priority_and_policy, thread_native_id, thread_schedule_policy,
    };
    use thread_priority::{ThreadPriority, ThreadPriorityValue};
    let wanted = Policy::Normal(match policy {
        CpuScheduling::Batch => Normal::Batch,
        CpuScheduling::Normal => Normal::Other,
    });
    let current = thread_schedule_policy().map_err(|e| e.to_string())?;
    if current == wanted || !matches!(current, Policy::Normal(Normal::Other | Normal::Batch)) {
        return Ok(());
    }
    // Under a normal policy the priority given is the nice value to set:
    // the one the thread has now.
    let nice = rustix::process::getpriority_process(None).map_err(|e| e.to_string())?;
    let priority = (0..=ThreadPriorityValue::MAX.into())
        .filter_map(|value: u8| ThreadPriorityValue::try_from(value).ok())
        .map(ThreadPriority::Crossplatform)
        .find(|priority| priority.to_posix(wanted).ok() == Some(nice))
        .ok_or_else(|| format!("no priority keeps the nice value {nice}"))?;
    set_thread_priority_and_policy(thread_native_id(), priority, wanted).map_err(|e| e.to_string())
}

#[cfg(not(target_os = "linux"))]
pub fn apply(_policy: CpuScheduling) -> Result<(), String> {
    Ok(())
}
