//! `openworkctl approvals watch`: follows the daemon's approvals stream
//! (`GET /approvals` as server-sent events). In a terminal it shows the
//! pending list live and answers the selected request with a key; piped,
//! it prints one JSON line per event.

use crate::Ctx;
use crate::failure::{EXIT_NOT_FOUND, Failure, Needs};
use crossterm::event::{self, Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, queue, style, terminal};
use openwork_shared::models::{ApprovalItem, Reply};
use openwork_shared::routes;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::sync::mpsc;
use std::time::Duration;

/// One server-sent event of the approvals stream.
#[derive(Debug)]
struct StreamEvent {
    name: String,
    id: Option<u64>,
    data: serde_json::Value,
}

/// Open the stream, and read it on a thread: events arrive on the channel,
/// which closes when the stream ends.
fn follow(ctx: &Ctx) -> Result<mpsc::Receiver<StreamEvent>, Failure> {
    let request = ctx
        .client
        .request(reqwest::Method::GET, routes::APPROVALS)
        .header("Accept", "text/event-stream");
    let response = ctx.call(Needs::Host, |c| c.execute(request))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut name, mut id, mut data) = (String::new(), None, String::new());
        for line in BufReader::new(response).lines().map_while(Result::ok) {
            if line.is_empty() {
                if !data.is_empty() {
                    let event = StreamEvent {
                        name: std::mem::take(&mut name),
                        id: id.take(),
                        data: serde_json::from_str(&data).unwrap_or_default(),
                    };
                    if tx.send(event).is_err() {
                        return;
                    }
                }
                data.clear();
                name.clear();
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line.as_str(), ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => name = value.to_owned(),
                "id" => id = value.parse().ok(),
                "data" => {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(value);
                }
                _ => {}
            }
        }
    });
    Ok(rx)
}

/// Follow the stream until it ends, or until `max` requests were seen.
pub fn approvals_watch(ctx: &Ctx, interactive: bool, max: Option<usize>) -> Result<(), Failure> {
    let events = follow(ctx)?;
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if interactive && terminal && !ctx.json {
        return Screen::run(ctx, events);
    }
    let mut requested = 0;
    let mut out = std::io::stdout().lock();
    for event in events {
        let line = serde_json::json!({"event": event.name, "id": event.id, "approval": event.data});
        writeln!(out, "{}", crate::output::json_shown(&line.to_string()))?;
        out.flush()?;
        if event.name == "approval.requested" {
            requested += 1;
            if max.is_some_and(|m| requested >= m) {
                return Ok(());
            }
        }
    }
    Err(Failure::new("the daemon closed the approvals stream")
        .exit(crate::failure::EXIT_UNREACHABLE))
}

/// The live list in a terminal (raw mode, restored when dropped).
struct Screen<'a> {
    ctx: &'a Ctx,
    pending: Vec<ApprovalItem>,
    selected: usize,
    /// The latest decisions, newest last.
    log: Vec<String>,
}

impl Drop for Screen<'_> {
    fn drop(&mut self) {
        let _ = execute!(
            std::io::stdout(),
            terminal::LeaveAlternateScreen,
            cursor::Show
        );
        let _ = terminal::disable_raw_mode();
    }
}

impl<'a> Screen<'a> {
    fn run(ctx: &'a Ctx, events: mpsc::Receiver<StreamEvent>) -> Result<(), Failure> {
        terminal::enable_raw_mode()?;
        let mut screen = Screen {
            ctx,
            pending: Vec::new(),
            selected: 0,
            log: Vec::new(),
        };
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )?;
        screen.draw()?;
        loop {
            let mut changed = false;
            loop {
                match events.try_recv() {
                    Ok(event) => {
                        screen.apply(event);
                        changed = true;
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        return Err(Failure::new("the daemon closed the approvals stream")
                            .exit(crate::failure::EXIT_UNREACHABLE));
                    }
                }
            }
            if event::poll(Duration::from_millis(50))?
                && let TermEvent::Key(key) = event::read()?
                && key.kind != KeyEventKind::Release
            {
                if quits(&key) {
                    return Ok(());
                }
                screen.key(key.code);
                changed = true;
            }
            if changed {
                screen.draw()?;
            }
        }
    }

    fn apply(&mut self, event: StreamEvent) {
        let id = event
            .data
            .get("id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        match event.name.as_str() {
            "approval.requested" => {
                if let Ok(item) = serde_json::from_value::<ApprovalItem>(event.data)
                    && !self.pending.iter().any(|p| p.id == item.id)
                {
                    self.pending.push(item);
                }
            }
            "approval.decided" => {
                self.pending.retain(|p| p.id != id);
                let field = |k: &str| event.data.get(k).and_then(|v| v.as_str()).unwrap_or("?");
                self.note(format!(
                    "{} {} ({}) by {}",
                    field("decision"),
                    field("summary"),
                    short(&id),
                    field("decidedBy")
                ));
            }
            _ => {}
        }
        self.selected = self.selected.min(self.pending.len().saturating_sub(1));
    }

    fn key(&mut self, code: KeyCode) {
        match code {
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(self.pending.len().saturating_sub(1));
            }
            KeyCode::Char('a') => self.answer(Reply::Allow),
            KeyCode::Char('d') => self.answer(Reply::Deny),
            _ => {}
        }
    }

    fn answer(&mut self, reply: Reply) {
        let Some(item) = self.pending.get(self.selected) else {
            return;
        };
        let id = item.id.clone();
        match self.ctx.call(Needs::Host, |c| c.reply_approval(&id, reply)) {
            // The stream's approval.decided removes it from the list.
            Ok(_) => {}
            Err(f) if f.exit == EXIT_NOT_FOUND => {
                self.pending.retain(|p| p.id != id);
                self.note(format!("{} is no longer pending", short(&id)));
            }
            Err(f) => self.note(format!("{} not answered: {}", short(&id), f.message)),
        }
    }

    fn note(&mut self, line: String) {
        self.log.push(line);
        let excess = self.log.len().saturating_sub(5);
        self.log.drain(..excess);
    }

    fn draw(&self) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        // A terminal of unknown size (0 columns) is taken as 80 wide.
        let width = terminal::size().map_or(80, |(w, _)| if w == 0 { 80 } else { w });
        let fit = |text: String| {
            crate::output::cell(&text)
                .chars()
                .take(width as usize)
                .collect::<String>()
        };
        queue!(
            out,
            terminal::Clear(terminal::ClearType::All),
            cursor::MoveTo(0, 0)
        )?;
        let mut lines = vec![
            format!("Pending approvals on {}", self.ctx.client.base_url()),
            "↑/↓ select   a allow   d deny   q quit".to_owned(),
            String::new(),
        ];
        if self.pending.is_empty() {
            lines.push("  Nothing is waiting.".to_owned());
        }
        for (i, item) in self.pending.iter().enumerate() {
            let mark = if i == self.selected { ">" } else { " " };
            lines.push(format!(
                "{mark} {}  {}  {}",
                short(&item.id),
                item.action,
                item.summary
            ));
            for path in &item.paths {
                lines.push(format!("      {path}"));
            }
        }
        if !self.log.is_empty() {
            lines.push(String::new());
            lines.extend(self.log.iter().cloned());
        }
        for line in lines {
            queue!(out, style::Print(fit(line)), style::Print("\r\n"))?;
        }
        out.flush()
    }
}

fn quits(key: &KeyEvent) -> bool {
    matches!(key.code, KeyCode::Char('q') | KeyCode::Esc)
        || (key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL))
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}
