//! One core's task table, for both eras. MCP 2025-11-25 tasks (experimental): a
//! task-augmented `tools/call` becomes a task that the session which made it polls
//! (`tasks/get`), waits on (`tasks/result`), lists (`tasks/list`) and cancels (`tasks/cancel`).
//! The 2026-07-28 tasks extension (`io.modelcontextprotocol/tasks`): the server turns a call
//! into a task; the task belongs to no session (its id is the capability to use it, and names
//! the core that keeps it: `<core>-<32 hex>`), it is polled with `tasks/get`, given input
//! with `tasks/update` ([`TaskInput`]) and cancelled with `tasks/cancel`.
//!
//! I/O-free: times are the core's milliseconds, passed in (wall-clock timestamps are the
//! core's start time plus them, so they never jump); running a task's future is the engine's
//! job, through [`TaskEnv::spawn`]. Bounded: [`MAX_TASKS_PER_CORE`] tasks per core,
//! [`MAX_TASKS_PER_SESSION`] per session, and each task is deleted `ttl` ms after its creation
//! (at most [`TASK_TTL_MS_MAX`]), a running one cancelled. A task belongs to the session that
//! created it: to every other session it does not exist.

use super::peer::RequestPeer;
use super::task_input::TaskInput;
use super::{with_related_task, write_str, LocalFuture};
use crate::ids::IdSource;
use crate::jsonrpc::{code, RpcError};
use crate::limits::{
    MAX_TASKS_PER_CORE, MAX_TASKS_PER_SESSION, TASK_POLL_INTERVAL_MS, TASK_TTL_MS_DEFAULT, TASK_TTL_MS_MAX,
};
use ringmcp_shards::SessionId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// Where a task is in its life (the spec's `TaskStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    /// Running.
    Working,
    /// Waiting for the client (kept for the spec's state machine; not entered yet).
    InputRequired,
    /// Finished with a result (terminal).
    Completed,
    /// Finished with an `isError` result or a JSON-RPC error (terminal).
    Failed,
    /// Cancelled before it finished (terminal).
    Cancelled,
}

impl TaskStatus {
    /// The spec's name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Working => "working",
            TaskStatus::InputRequired => "input_required",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the task is over (no other status may follow).
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled)
    }
}

/// What `tasks/result` answers: the underlying result (with the related-task `_meta`), or the
/// JSON-RPC error the request ended with.
pub type TaskOutcome = Result<Rc<[u8]>, RpcError>;

/// What the table needs from the core that runs it.
pub struct TaskEnv {
    /// The core's clock, in milliseconds (monotonic).
    pub now_ms: Box<dyn Fn() -> u64>,
    /// Wall-clock milliseconds since the Unix epoch when `now_ms` read 0 (for `createdAt`).
    pub epoch_unix_ms: u64,
    /// Runs a task's future detached on the core's executor (it outlives its request).
    pub spawn: Box<dyn Fn(LocalFuture<()>)>,
    /// The core that keeps the table (named in 2026-07-28 task ids).
    pub core: usize,
}

/// Who may see a task: the session that created it, or (`None`) any 2026-07-28 request that
/// names its id.
pub type Owner = Option<SessionId>;

/// The core a 2026-07-28 task id names (`<core>-<hex>`), if it is one.
pub fn core_of(task_id: &str) -> Option<usize> {
    let (core, rest) = task_id.split_once('-')?;
    (!rest.is_empty() && core.len() <= 4).then(|| core.parse().ok()).flatten()
}

/// The tasks of one core.
pub struct TaskTable {
    env: TaskEnv,
    inner: RefCell<Inner>,
}

struct Inner {
    tasks: HashMap<Box<str>, Entry>,
    /// Tasks held per session (for [`MAX_TASKS_PER_SESSION`]).
    per_owner: HashMap<SessionId, usize>,
    next_seq: u64,
    ids: IdSource,
}

struct Entry {
    owner: Owner,
    /// Creation order, for `tasks/list`.
    seq: u64,
    status: TaskStatus,
    message: Option<String>,
    created_ms: u64,
    updated_ms: u64,
    ttl_ms: u64,
    outcome: Option<TaskOutcome>,
    /// `tasks/result` requests waiting for the end.
    waiters: Vec<Waker>,
    /// The running request, to cancel it.
    run: Option<Rc<RequestPeer>>,
    /// A 2026-07-28 task's input requests and answers.
    input: Option<Rc<TaskInput>>,
}

impl TaskTable {
    /// An empty table.
    pub fn new(env: TaskEnv) -> TaskTable {
        let inner = Inner { tasks: HashMap::new(), per_owner: HashMap::new(), next_seq: 0, ids: IdSource::default() };
        TaskTable { env, inner: RefCell::new(inner) }
    }

    /// The core's clock, in milliseconds.
    pub fn now_ms(&self) -> u64 {
        (self.env.now_ms)()
    }

    /// Runs a task's future on the core's executor.
    pub fn spawn(&self, fut: LocalFuture<()>) {
        (self.env.spawn)(fut)
    }

    /// Tasks in the table (expired ones included until the next sweep).
    pub fn len(&self) -> usize {
        self.inner.borrow().tasks.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Deletes every expired task (a running one is cancelled); the core calls it now and then.
    pub fn sweep_expired(&self, now_ms: u64) {
        self.sweep(now_ms, None);
    }

    /// A new `working` task of `owner`, living `ttl_ms` (the client's wish, default
    /// [`TASK_TTL_MS_DEFAULT`], cut to [`TASK_TTL_MS_MAX`]); returns its id.
    ///
    /// Errors: -32010 (overloaded) when the core or the session holds the most tasks allowed;
    /// -32603 if the OS random source fails.
    pub fn create(&self, owner: Owner, ttl_ms: Option<u64>, now_ms: u64) -> Result<Box<str>, RpcError> {
        self.sweep(now_ms, None);
        let mut inner = self.inner.borrow_mut();
        if inner.tasks.len() >= MAX_TASKS_PER_CORE {
            return Err(overloaded(format!("this core holds {MAX_TASKS_PER_CORE} tasks (MAX_TASKS_PER_CORE)")));
        }
        let held = owner.and_then(|o| inner.per_owner.get(&o).copied()).unwrap_or(0);
        if held >= MAX_TASKS_PER_SESSION {
            return Err(overloaded(format!(
                "this session holds {MAX_TASKS_PER_SESSION} tasks (MAX_TASKS_PER_SESSION); let some expire"
            )));
        }
        let id = loop {
            let id = inner.ids.next_hex().map_err(|e| {
                RpcError::new(code::INTERNAL_ERROR, format!("Internal error: cannot create a task id: {e}"))
            })?;
            let id = match owner {
                Some(_) => id,
                None => format!("{}-{id}", self.env.core).into_boxed_str(),
            };
            if !inner.tasks.contains_key(&id) {
                break id;
            }
        };
        inner.next_seq += 1;
        let entry = Entry {
            owner,
            seq: inner.next_seq,
            status: TaskStatus::Working,
            message: None,
            created_ms: now_ms,
            updated_ms: now_ms,
            ttl_ms: ttl_ms.unwrap_or(TASK_TTL_MS_DEFAULT).min(TASK_TTL_MS_MAX),
            outcome: None,
            waiters: Vec::new(),
            run: None,
            input: None,
        };
        inner.tasks.insert(id.clone(), entry);
        if let Some(owner) = owner {
            *inner.per_owner.entry(owner).or_insert(0) += 1;
        }
        assert!(inner.tasks.len() <= MAX_TASKS_PER_CORE);
        debug_assert!(inner.per_owner.values().sum::<usize>() <= inner.tasks.len());
        Ok(id)
    }

    /// Ties the running request to its task, so that `tasks/cancel` and expiry can stop it;
    /// `input`: a 2026-07-28 task's input.
    pub fn attach(&self, id: &str, run: Rc<RequestPeer>, input: Option<Rc<TaskInput>>) {
        if let Some(e) = self.inner.borrow_mut().tasks.get_mut(id).filter(|e| !e.status.is_terminal()) {
            e.run = Some(run);
            e.input = input;
        }
    }

    /// The task's request ended with `outcome` (its result JSON, an object, or its error);
    /// `failed` marks a result that is an error (`isError: true`). Returns false when the task
    /// is gone or already over (a cancelled task stays cancelled).
    /// A 2026-07-28 task ends `completed` also with an `isError` result (`failed` is for a
    /// JSON-RPC error), and its result is kept as it is.
    pub fn finish(&self, id: &str, outcome: Result<Vec<u8>, RpcError>, failed: bool, now_ms: u64) -> bool {
        let modern = self.inner.borrow().tasks.get(id).is_some_and(|e| e.owner.is_none());
        let (status, message) = match &outcome {
            Ok(_) if !failed || modern => (TaskStatus::Completed, None),
            Ok(_) => (TaskStatus::Failed, Some("The tool reported an error (isError: true)".to_string())),
            Err(e) => (TaskStatus::Failed, Some(e.message.to_string())),
        };
        let outcome = match modern {
            true => outcome.map(Rc::from),
            false => outcome.map(|result| Rc::from(with_related_task(&result, id))),
        };
        self.end(id, status, message, outcome, now_ms).is_some()
    }

    /// Cancels a task that is not over yet and stops its request. Returns false when the task
    /// is gone or already over.
    pub fn cancel_run(&self, id: &str, message: &str, now_ms: u64) -> bool {
        let outcome = Err(cancelled_error(id));
        match self.end(id, TaskStatus::Cancelled, Some(message.to_string()), outcome, now_ms) {
            Some(run) => {
                if let Some(run) = run {
                    run.cancel();
                }
                true
            }
            None => false,
        }
    }

    /// Writes the task as `tasks/get` shows it.
    ///
    /// Errors: -32602 for an id that is unknown, expired or another session's.
    pub fn get(&self, owner: Owner, id: &str, now_ms: u64, out: &mut Vec<u8>) -> Result<(), RpcError> {
        self.sweep(now_ms, Some(id));
        let inner = self.inner.borrow();
        let e = self.find(&inner, owner, id, "Failed to retrieve task")?;
        match owner {
            Some(_) => self.write_task(out, id, e),
            None => self.write_detailed(out, id, e),
        }
        Ok(())
    }

    /// `tasks/update` (2026-07-28): hands `answers` (key, raw result) to the task's open input
    /// requests; keys that are not open are ignored, as is a task that is over. Errors:
    /// -32602 for an unknown or expired task id.
    pub fn update(&self, id: &str, answers: Vec<(String, String)>, now_ms: u64) -> Result<(), RpcError> {
        self.sweep(now_ms, Some(id));
        let input = {
            let mut inner = self.inner.borrow_mut();
            self.find(&inner, None, id, "Failed to update task")?;
            let e = inner.tasks.get_mut(id).expect("just found");
            let input = e.input.clone().filter(|_| !e.status.is_terminal());
            if input.is_some() {
                e.updated_ms = now_ms.max(e.created_ms);
            }
            input
        };
        if let Some(input) = input {
            for (key, result) in answers {
                input.answer(&key, result);
            }
        }
        Ok(())
    }

    /// `tasks/cancel` (2026-07-28): cancels a task that is not over and acks; a task already
    /// over is acked too. Errors: -32602 for an unknown or expired task id.
    pub fn cancel_modern(&self, id: &str, now_ms: u64) -> Result<(), RpcError> {
        self.sweep(now_ms, Some(id));
        self.find(&self.inner.borrow(), None, id, "Failed to cancel task")?;
        self.cancel_run(id, "The task was cancelled by request.", now_ms);
        Ok(())
    }

    /// `tasks/cancel`: cancels the task and writes it (now `cancelled`).
    ///
    /// Errors: -32602 for an unknown id, or a task already in a terminal status.
    pub fn cancel(&self, owner: Owner, id: &str, now_ms: u64, out: &mut Vec<u8>) -> Result<(), RpcError> {
        self.sweep(now_ms, Some(id));
        let status = self.find(&self.inner.borrow(), owner, id, "Failed to cancel task")?.status;
        if status.is_terminal() {
            let message = format!("Cannot cancel task: already in terminal status '{}'", status.as_str());
            return Err(RpcError::invalid_params(message));
        }
        let cancelled = self.cancel_run(id, "The task was cancelled by request.", now_ms);
        assert!(cancelled, "a task found not over can be cancelled");
        self.get(owner, id, now_ms, out)
    }

    /// `tasks/result`: the outcome once the task is over; until then `Pending`, and `waker`
    /// (if given) is woken when it ends.
    ///
    /// Errors (ready): -32602 for an id that is unknown, expired or another session's.
    pub fn poll_result(
        &self,
        owner: Owner,
        id: &str,
        now_ms: u64,
        waker: Option<&Waker>,
    ) -> Poll<Result<Rc<[u8]>, RpcError>> {
        self.sweep(now_ms, Some(id));
        let mut inner = self.inner.borrow_mut();
        let e = match self.find(&inner, owner, id, "Failed to retrieve task result") {
            Ok(_) => inner.tasks.get_mut(id).expect("just found"),
            Err(err) => return Poll::Ready(Err(err)),
        };
        match &e.outcome {
            Some(outcome) => Poll::Ready(outcome.clone()),
            None => {
                if let Some(w) = waker.filter(|w| !e.waiters.iter().any(|x| x.will_wake(w))) {
                    e.waiters.push(w.clone());
                }
                Poll::Pending
            }
        }
    }

    /// The session's tasks, oldest first, each as the JSON of a `Task`.
    pub fn list(&self, owner: Owner, now_ms: u64) -> Vec<Vec<u8>> {
        self.sweep(now_ms, None);
        let inner = self.inner.borrow();
        let mut mine: Vec<(&Box<str>, &Entry)> = inner.tasks.iter().filter(|(_, e)| e.owner == owner).collect();
        mine.sort_by_key(|(_, e)| e.seq);
        assert!(mine.len() <= MAX_TASKS_PER_SESSION);
        mine.into_iter()
            .map(|(id, e)| {
                let mut out = Vec::with_capacity(256);
                self.write_task(&mut out, id, e);
                out
            })
            .collect()
    }

    /// The `notifications/tasks/status` message of task `id` (none if it is gone).
    pub fn status_notification(&self, id: &str) -> Option<Vec<u8>> {
        let inner = self.inner.borrow();
        let e = inner.tasks.get(id)?;
        let mut params = Vec::with_capacity(256);
        self.write_task(&mut params, id, e);
        let params = std::str::from_utf8(&params).expect("task JSON is UTF-8");
        Some(super::peer::notification("notifications/tasks/status", Some(params)))
    }

    /// Writes a 2026-07-28 `CreateTaskResult` for a task just created: flat, `resultType`
    /// `task`. It also carries an empty `content`, so that clients (and the conformance
    /// suite's wire check) that read every `tools/call` result as a `CallToolResult` accept it.
    pub fn write_created_modern(&self, id: &str, out: &mut Vec<u8>) {
        let inner = self.inner.borrow();
        let e = inner.tasks.get(id).expect("the task was created in this request");
        out.extend_from_slice(br#"{"resultType":"task","#);
        self.write_fields(out, id, e);
        out.extend_from_slice(br#","content":[]}"#);
    }

    /// Writes `{"task":…}` (a `CreateTaskResult`) for a task just created.
    pub fn write_created(&self, id: &str, out: &mut Vec<u8>) {
        let inner = self.inner.borrow();
        let e = inner.tasks.get(id).expect("the task was created in this request");
        out.extend_from_slice(b"{\"task\":");
        self.write_task(out, id, e);
        out.push(b'}');
    }

    /// Moves a task that is not over to terminal `status`; wakes its waiters. Returns the
    /// request to stop (if attached), or `None` when the task is gone or already over.
    fn end(
        &self,
        id: &str,
        status: TaskStatus,
        message: Option<String>,
        outcome: TaskOutcome,
        now_ms: u64,
    ) -> Option<Option<Rc<RequestPeer>>> {
        assert!(status.is_terminal());
        let (waiters, run) = {
            let mut inner = self.inner.borrow_mut();
            let e = inner.tasks.get_mut(id).filter(|e| !e.status.is_terminal())?;
            debug_assert!(e.outcome.is_none(), "only a task over has an outcome");
            e.status = status;
            e.message = message;
            e.updated_ms = now_ms.max(e.created_ms);
            e.outcome = Some(outcome);
            (std::mem::take(&mut e.waiters), e.run.take())
        };
        waiters.into_iter().for_each(Waker::wake);
        Some(run)
    }

    /// Deletes expired tasks (all, or only `only`), stopping those still running.
    fn sweep(&self, now_ms: u64, only: Option<&str>) {
        let expired: Vec<Entry> = {
            let mut inner = self.inner.borrow_mut();
            let is_expired = |e: &Entry| now_ms >= e.created_ms.saturating_add(e.ttl_ms);
            let ids: Vec<Box<str>> = match only {
                Some(id) => inner
                    .tasks
                    .get_key_value(id)
                    .filter(|(_, e)| is_expired(e))
                    .map(|(k, _)| k.clone())
                    .into_iter()
                    .collect(),
                None => inner.tasks.iter().filter(|(_, e)| is_expired(e)).map(|(k, _)| k.clone()).collect(),
            };
            ids.iter()
                .filter_map(|id| {
                    let e = inner.tasks.remove(id)?;
                    if let Some(owner) = e.owner {
                        let held = inner.per_owner.get_mut(&owner).expect("every session task is counted");
                        *held -= 1;
                        if *held == 0 {
                            inner.per_owner.remove(&owner);
                        }
                    }
                    Some(e)
                })
                .collect()
        };
        for e in expired {
            if let Some(run) = e.run {
                run.cancel();
            }
            e.waiters.into_iter().for_each(Waker::wake);
        }
    }

    /// A 2026-07-28 task as `tasks/get` shows it: its fields, and its result (`completed`),
    /// error (`failed`) or input requests (`input_required`).
    fn write_detailed(&self, out: &mut Vec<u8>, id: &str, e: &Entry) {
        out.push(b'{');
        self.write_fields(out, id, e);
        match (&e.outcome, &e.input) {
            (Some(Ok(result)), _) if e.status == TaskStatus::Completed => {
                out.extend_from_slice(br#","result":"#);
                out.extend_from_slice(result);
            }
            (Some(Err(error)), _) if e.status == TaskStatus::Failed => {
                out.extend_from_slice(br#","error":{"code":"#);
                out.extend_from_slice(itoa::Buffer::new().format(error.code).as_bytes());
                out.extend_from_slice(br#","message":"#);
                write_str(out, &error.message);
                out.push(b'}');
            }
            (None, Some(input)) if input.waiting() => {
                out.push(b',');
                input.write_requests(out);
            }
            _ => {}
        }
        out.push(b'}');
    }

    /// The fields of a 2026-07-28 `Task`, without braces.
    fn write_fields(&self, out: &mut Vec<u8>, id: &str, e: &Entry) {
        let waiting = e.input.as_ref().is_some_and(|i| i.waiting());
        let status = match e.status {
            TaskStatus::Working if waiting => TaskStatus::InputRequired,
            status => status,
        };
        out.extend_from_slice(b"\"taskId\":");
        write_str(out, id);
        out.extend_from_slice(b",\"status\":\"");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b'"');
        if let Some(m) = &e.message {
            out.extend_from_slice(b",\"statusMessage\":");
            write_str(out, m);
        }
        out.extend_from_slice(b",\"createdAt\":\"");
        out.extend_from_slice(iso8601(self.env.epoch_unix_ms + e.created_ms).as_bytes());
        out.extend_from_slice(b"\",\"lastUpdatedAt\":\"");
        out.extend_from_slice(iso8601(self.env.epoch_unix_ms + e.updated_ms).as_bytes());
        out.extend_from_slice(b"\",\"ttlMs\":");
        out.extend_from_slice(itoa::Buffer::new().format(e.ttl_ms).as_bytes());
        if !e.status.is_terminal() {
            out.extend_from_slice(b",\"pollIntervalMs\":");
            out.extend_from_slice(itoa::Buffer::new().format(TASK_POLL_INTERVAL_MS).as_bytes());
        }
    }

    /// The owner's task `id`, or the spec's "not found" (-32602) — also for another owner's.
    /// A 2026-07-28 id that names another core says so (over NDJSON, WebSocket and stdio a
    /// task is found only on the core that keeps it).
    fn find<'a>(&self, inner: &'a Inner, owner: Owner, id: &str, what: &str) -> Result<&'a Entry, RpcError> {
        match inner.tasks.get(id) {
            Some(e) if e.owner == owner => Ok(e),
            _ => Err(RpcError::invalid_params(match core_of(id).filter(|c| owner.is_none() && *c != self.env.core) {
                Some(core) => format!(
                    "{what}: Task not found on core {here}; its id names core {core}: poll it over Streamable HTTP (any core forwards it) or on a connection to that core",
                    here = self.env.core
                ),
                None => format!("{what}: Task not found (unknown or expired task id)"),
            })),
        }
    }

    fn write_task(&self, out: &mut Vec<u8>, id: &str, e: &Entry) {
        out.extend_from_slice(b"{\"taskId\":");
        write_str(out, id);
        out.extend_from_slice(b",\"status\":\"");
        out.extend_from_slice(e.status.as_str().as_bytes());
        out.push(b'"');
        if let Some(m) = &e.message {
            out.extend_from_slice(b",\"statusMessage\":");
            write_str(out, m);
        }
        out.extend_from_slice(b",\"createdAt\":\"");
        out.extend_from_slice(iso8601(self.env.epoch_unix_ms + e.created_ms).as_bytes());
        out.extend_from_slice(b"\",\"lastUpdatedAt\":\"");
        out.extend_from_slice(iso8601(self.env.epoch_unix_ms + e.updated_ms).as_bytes());
        out.extend_from_slice(b"\",\"ttl\":");
        out.extend_from_slice(itoa::Buffer::new().format(e.ttl_ms).as_bytes());
        if !e.status.is_terminal() {
            out.extend_from_slice(b",\"pollInterval\":");
            out.extend_from_slice(itoa::Buffer::new().format(TASK_POLL_INTERVAL_MS).as_bytes());
        }
        out.push(b'}');
    }
}

/// What `tasks/result` answers for a cancelled task: a cancelled request has no result.
fn cancelled_error(id: &str) -> RpcError {
    RpcError::invalid_params(format!("Task {id} was cancelled; it has no result"))
}

fn overloaded(why: String) -> RpcError {
    RpcError::new(code::OVERLOADED, format!("Server overloaded: cannot create a task: {why}"))
}

/// Milliseconds since the Unix epoch as an RFC 3339 / ISO 8601 UTC time with milliseconds,
/// e.g. `2025-11-25T10:30:00.000Z`.
pub fn iso8601(unix_ms: u64) -> String {
    let (secs, ms) = (unix_ms / 1000, unix_ms % 1000);
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let (h, min, s) = (day_secs / 3600, day_secs % 3600 / 60, day_secs % 60);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{ms:03}Z")
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`: 400-year eras of 146 097 days, years starting in March).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    debug_assert!((1..=12).contains(&m) && (1..=31).contains(&d));
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn table() -> TaskTable {
        TaskTable::new(TaskEnv {
            now_ms: Box::new(|| 0),
            epoch_unix_ms: 1_764_066_600_000,
            spawn: Box::new(|_| panic!("no task runs in these tests")),
            core: 3,
        })
    }

    fn session(n: u128) -> Owner {
        Some(SessionId::from_random(n))
    }

    fn get(t: &TaskTable, owner: Owner, id: &str, now: u64) -> Result<String, RpcError> {
        let mut out = Vec::new();
        t.get(owner, id, now, &mut out).map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn iso8601_formats_utc_with_milliseconds() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(1_709_210_096_789), "2024-02-29T12:34:56.789Z");
        assert_eq!(iso8601(1_764_066_600_000), "2025-11-25T10:30:00.000Z");
        assert_eq!(iso8601(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn a_task_is_working_then_completed_with_related_task_meta() {
        let t = table();
        let id = t.create(session(1), Some(60_000), 0).unwrap();
        assert_eq!(id.len(), 32);
        let working = get(&t, session(1), &id, 5).unwrap();
        assert_eq!(
            working,
            format!(
                r#"{{"taskId":"{id}","status":"working","createdAt":"2025-11-25T10:30:00.000Z","lastUpdatedAt":"2025-11-25T10:30:00.000Z","ttl":60000,"pollInterval":1000}}"#
            )
        );
        assert!(t.poll_result(session(1), &id, 5, None).is_pending());
        assert!(t.finish(&id, Ok(br#"{"content":[]}"#.to_vec()), false, 1_500));
        assert!(!t.finish(&id, Ok(b"{}".to_vec()), false, 1_600), "a task ends once");
        let Poll::Ready(Ok(result)) = t.poll_result(session(1), &id, 1_600, None) else { panic!("over") };
        assert_eq!(
            std::str::from_utf8(&result).unwrap(),
            format!(r#"{{"content":[],"_meta":{{"io.modelcontextprotocol/related-task":{{"taskId":"{id}"}}}}}}"#)
        );
        assert!(get(&t, session(1), &id, 1_600).unwrap().contains(r#""lastUpdatedAt":"2025-11-25T10:30:01.500Z""#));
    }

    #[test]
    fn modern_tasks_name_their_core_belong_to_no_session_and_end_completed_with_is_error() {
        let t = table();
        let id = t.create(None, None, 0).unwrap();
        assert!(id.starts_with("3-") && id.len() == 34, "{id}");
        assert_eq!(core_of(&id), Some(3));
        assert_eq!(core_of("deadbeef"), None);
        assert_eq!(get(&t, session(1), &id, 0).unwrap_err().code, code::INVALID_PARAMS, "not a session's");
        let input = Rc::new(TaskInput::new(Default::default()));
        t.attach(
            &id,
            Rc::new(RequestPeer::new(Default::default(), Rc::new(super::super::peer::NullSink), None)),
            Some(input),
        );
        t.update(&id, vec![("k".into(), "{}".into())], 10).unwrap();
        assert!(t.finish(&id, Ok(br#"{"content":[],"isError":true}"#.to_vec()), true, 1_000));
        assert_eq!(
            get(&t, None, &id, 1_000).unwrap(),
            format!(
                r#"{{"taskId":"{id}","status":"completed","createdAt":"2025-11-25T10:30:00.000Z","lastUpdatedAt":"2025-11-25T10:30:01.000Z","ttlMs":300000,"result":{{"content":[],"isError":true}}}}"#
            )
        );
        t.cancel_modern(&id, 1_000).unwrap();
        assert!(get(&t, None, &id, 1_000).unwrap().contains(r#""status":"completed""#), "over stays over");
        assert_eq!(t.cancel_modern("3-x", 0).unwrap_err().code, code::INVALID_PARAMS);
        assert_eq!(t.update("3-x", Vec::new(), 0).unwrap_err().code, code::INVALID_PARAMS);
        assert_eq!(
            get(&t, None, "1-abc", 0).unwrap_err().message,
            "Failed to retrieve task: Task not found on core 3; its id names core 1: poll it over Streamable HTTP (any core forwards it) or on a connection to that core"
        );
    }

    #[test]
    fn other_sessions_do_not_see_a_task() {
        let t = table();
        let id = t.create(session(1), None, 0).unwrap();
        assert_eq!(get(&t, session(2), &id, 0).unwrap_err().code, code::INVALID_PARAMS);
        assert!(t.poll_result(session(2), &id, 0, None).is_ready());
        assert_eq!(t.cancel(session(2), &id, 0, &mut Vec::new()).unwrap_err().code, code::INVALID_PARAMS);
        assert!(t.list(session(2), 0).is_empty());
        assert_eq!(t.list(session(1), 0).len(), 1);
        assert!(get(&t, session(1), &id, 0).is_ok());
    }

    #[test]
    fn tasks_expire_after_their_ttl_and_ttl_is_capped() {
        let t = table();
        let short = t.create(session(1), Some(100), 0).unwrap();
        let long = t.create(session(1), Some(u64::MAX), 0).unwrap();
        assert!(get(&t, session(1), &long, 0).unwrap().contains(&format!(r#""ttl":{TASK_TTL_MS_MAX}"#)));
        assert!(get(&t, session(1), &short, 99).is_ok());
        assert_eq!(get(&t, session(1), &short, 100).unwrap_err().code, code::INVALID_PARAMS);
        assert_eq!(t.len(), 1);
        assert_eq!(t.list(session(1), TASK_TTL_MS_MAX).len(), 0, "the capped one is gone too");
        assert!(t.is_empty());
    }

    #[test]
    fn cancel_ends_a_working_task_and_refuses_a_finished_one() {
        let t = table();
        let id = t.create(session(1), None, 0).unwrap();
        let mut out = Vec::new();
        t.cancel(session(1), &id, 10, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains(r#""status":"cancelled","statusMessage":"The task was cancelled by request.""#), "{out}");
        assert!(!t.finish(&id, Ok(b"{}".to_vec()), false, 20), "cancelled stays cancelled");
        let Poll::Ready(Err(e)) = t.poll_result(session(1), &id, 20, None) else { panic!("over") };
        assert_eq!(e.code, code::INVALID_PARAMS);
        let again = t.cancel(session(1), &id, 20, &mut Vec::new()).unwrap_err();
        assert_eq!(again.message, "Cannot cancel task: already in terminal status 'cancelled'");
    }

    #[test]
    fn waiters_are_woken_when_the_task_ends() {
        struct Count(AtomicU32);
        impl std::task::Wake for Count {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let count = std::sync::Arc::new(Count(AtomicU32::new(0)));
        let waker = Waker::from(count.clone());
        let t = table();
        let id = t.create(session(1), None, 0).unwrap();
        assert!(t.poll_result(session(1), &id, 0, Some(&waker)).is_pending());
        assert!(t.poll_result(session(1), &id, 0, Some(&waker)).is_pending());
        assert!(t.finish(&id, Err(RpcError::new(code::INTERNAL_ERROR, "boom")), false, 1));
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "one waker kept per waiter");
        assert!(get(&t, session(1), &id, 1).unwrap().contains(r#""status":"failed","statusMessage":"boom""#));
    }

    #[test]
    fn the_table_is_bounded_per_session_and_per_core() {
        let t = table();
        for _ in 0..MAX_TASKS_PER_SESSION {
            t.create(session(1), None, 0).unwrap();
        }
        assert_eq!(t.create(session(1), None, 0).unwrap_err().code, code::OVERLOADED);
        let mut owner = 2;
        while t.len() < MAX_TASKS_PER_CORE {
            for _ in 0..MAX_TASKS_PER_SESSION.min(MAX_TASKS_PER_CORE - t.len()) {
                t.create(session(owner), None, 0).unwrap();
            }
            owner += 1;
        }
        assert_eq!(t.create(session(owner), None, 0).unwrap_err().code, code::OVERLOADED);
        // Once they expire there is room again.
        assert!(t.create(session(owner), None, TASK_TTL_MS_DEFAULT).is_ok());
        assert_eq!(t.len(), 1);
    }
}
