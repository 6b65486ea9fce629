//! One burst of a login flood: every login of the burst sent at once, each over a connection of
//! its own, from the client addresses given, and what came back: the status, the error's code and
//! message (which tell apart the reasons for a 429), and the time from sending to the whole answer.

use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Characters of an unexpected body kept for the report.
const BODY_EXCERPT: usize = 80;

/// One login to send.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub username: String,
    pub password: String,
    /// Whether `password` is the user's.
    pub right: bool,
}

/// How a login was answered.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// An HTTP answer: its status and, for an error, `code: message` from its body.
    Answered { status: u16, detail: Option<String> },
    /// No HTTP answer within the client's timeout, or the connection failed.
    NoAnswer(String),
}

impl Outcome {
    /// `200`, `401`, `429`, … or `no answer`.
    pub fn status(&self) -> String {
        match self {
            Outcome::Answered { status, .. } => status.to_string(),
            Outcome::NoAnswer(_) => "no answer".to_owned(),
        }
    }

    /// `rate_limited: too many failed logins; try again later`, a transport error, or nothing.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Outcome::Answered { detail, .. } => detail.as_deref(),
            Outcome::NoAnswer(reason) => Some(reason),
        }
    }

    /// 200: a password checked and right; 401: checked and wrong.
    pub fn is_check(&self) -> bool {
        matches!(
            self,
            Outcome::Answered {
                status: 200 | 401,
                ..
            }
        )
    }

    /// An answer the flood targets allow: 200, 401 or 429.
    pub fn is_allowed(&self) -> bool {
        matches!(
            self,
            Outcome::Answered {
                status: 200 | 401 | 429,
                ..
            }
        )
    }
}

/// One login's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub right: bool,
    pub outcome: Outcome,
    /// From sending to the whole answer read.
    pub took: Duration,
    /// When the whole answer had been read.
    pub at: Instant,
}

/// A burst's answers.
#[derive(Debug)]
pub struct Burst {
    pub answers: Vec<Answer>,
    pub started: Instant,
    /// From the start until the last answer.
    pub elapsed: Duration,
}

impl Burst {
    /// Answers counted by outcome (status and detail), and by whether the password was right.
    pub fn tally(&self) -> BTreeMap<(bool, Outcome), usize> {
        let mut counts = BTreeMap::new();
        for answer in &self.answers {
            *counts
                .entry((answer.right, answer.outcome.clone()))
                .or_default() += 1;
        }
        counts
    }

    /// Passwords checked (answers 200 and 401), and the time from the start to the last of them.
    pub fn checks(&self) -> (usize, Duration) {
        let checks = self.answers.iter().filter(|a| a.outcome.is_check());
        let last = checks.clone().map(|a| a.at).max();
        let took = last.map_or(Duration::ZERO, |at| at.duration_since(self.started));
        (checks.count(), took)
    }
}

/// An HTTP client whose connections leave from `address` (a loopback address other than
/// 127.0.0.1 reaches a server on 127.0.0.1 as a client of its own).
pub fn client_from(address: IpAddr, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .local_address(address)
        .timeout(timeout)
        .no_proxy()
        .build()
}

/// Sends every attempt at once, the `n`th from `clients[n % clients.len()]`, and waits for
/// every answer.
pub async fn send(
    clients: &[reqwest::Client],
    url: &Url,
    attempts: Vec<Attempt>,
) -> anyhow::Result<Burst> {
    anyhow::ensure!(!clients.is_empty(), "no client address to send from");
    let login: Arc<Url> = Arc::new(url.join("/v1/auth/login")?);
    let go = CancellationToken::new();
    let mut tasks = JoinSet::new();
    for (n, attempt) in attempts.into_iter().enumerate() {
        let http = clients[n % clients.len()].clone();
        let (login, go) = (Arc::clone(&login), go.clone());
        tasks.spawn(async move {
            go.cancelled().await;
            let sent = Instant::now();
            let outcome = log_in(&http, &login, &attempt).await;
            let at = Instant::now();
            Answer {
                right: attempt.right,
                outcome,
                took: at.duration_since(sent),
                at,
            }
        });
    }
    let started = Instant::now();
    go.cancel();
    let mut answers = Vec::with_capacity(tasks.len());
    while let Some(answer) = tasks.join_next().await {
        answers.push(answer?);
    }
    Ok(Burst {
        answers,
        started,
        elapsed: started.elapsed(),
    })
}

async fn log_in(http: &reqwest::Client, login: &Url, attempt: &Attempt) -> Outcome {
    let body = json!({ "username": attempt.username, "password": attempt.password });
    let response = match http.post(login.clone()).json(&body).send().await {
        Ok(response) => response,
        Err(error) => return Outcome::NoAnswer(transport_error(&error)),
    };
    let status = response.status();
    match response.text().await {
        Ok(text) => Outcome::Answered {
            status: status.as_u16(),
            detail: detail(status, &text),
        },
        Err(error) => Outcome::NoAnswer(transport_error(&error)),
    }
}

fn transport_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "no answer within the timeout".to_owned()
    } else if error.is_connect() {
        format!("cannot connect: {error}")
    } else {
        format!("{error}")
    }
}

/// What an answer's body says beyond its status: `code: message` for an error
/// (`{"error": {"code", "message"}}`), nothing for a login that gave tokens.
fn detail(status: StatusCode, text: &str) -> Option<String> {
    let body: Value = match serde_json::from_str(text) {
        Ok(body) => body,
        Err(_) => return Some(format!("not JSON: {}", excerpt(text))),
    };
    if status.is_success() {
        return match body["access_token"].as_str() {
            Some(_) => None,
            None => Some(format!("no access_token: {}", excerpt(text))),
        };
    }
    let error = &body["error"];
    match (error["code"].as_str(), error["message"].as_str()) {
        (Some(code), Some(message)) => Some(format!("{code}: {message}")),
        (Some(code), None) => Some(code.to_owned()),
        _ => Some(format!("no error code: {}", excerpt(text))),
    }
}

fn excerpt(text: &str) -> String {
    let mut short: String = text.chars().take(BODY_EXCERPT).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_is_known_by_its_code_and_message() {
        let limited = r#"{"error":{"code":"rate_limited","message":"too many failed logins; try again later","retry_after_ms":900000}}"#;
        assert_eq!(
            detail(StatusCode::TOO_MANY_REQUESTS, limited).as_deref(),
            Some("rate_limited: too many failed logins; try again later")
        );
        let tokens = r#"{"access_token":"a.b.c","refresh_token":"r","expires_in":900}"#;
        assert_eq!(detail(StatusCode::OK, tokens), None);
        assert_eq!(
            detail(StatusCode::OK, "{}").as_deref(),
            Some("no access_token: {}")
        );
        assert_eq!(
            detail(StatusCode::BAD_GATEWAY, "<html>").as_deref(),
            Some("not JSON: <html>")
        );
    }

    #[test]
    fn checks_are_the_answers_200_and_401() {
        let started = Instant::now();
        let answer = |status, ms| Answer {
            right: status == 200,
            outcome: Outcome::Answered {
                status,
                detail: None,
            },
            took: Duration::from_millis(ms),
            at: started + Duration::from_millis(ms),
        };
        let burst = Burst {
            answers: vec![
                answer(200, 30),
                answer(401, 50),
                answer(429, 2010),
                answer(503, 5),
            ],
            started,
            elapsed: Duration::from_millis(2010),
        };
        assert_eq!(burst.checks(), (2, Duration::from_millis(50)));
        let tally = burst.tally();
        assert_eq!(tally.values().sum::<usize>(), 4);
        assert!(
            burst
                .answers
                .iter()
                .filter(|a| a.outcome.is_allowed())
                .count()
                == 3
        );
        let no_answer = Outcome::NoAnswer("no answer within the timeout".into());
        assert_eq!(no_answer.status(), "no answer");
        assert!(!no_answer.is_allowed() && !no_answer.is_check());
    }
}
