//! What a call that commits in parts (a streamed import, a recycle sweep) had committed when its
//! deadline passed. Those parts stay done, so its `DEADLINE_EXCEEDED` says what they were rather
//! than "nothing was changed" (shared/api.md: a `DEADLINE_EXCEEDED` never hides a committed
//! change).

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Committed {
    /// `ImportLeadsStream`: its first `messages` messages, each imported in a transaction of its
    /// own (at least one).
    ImportedMessages { messages: usize },
    /// `RunRecycle`: the sweep had begun; its batches commit one by one, and those that
    /// committed warned and recycled these many leads.
    Swept { warned: u64, recycled: u64 },
    /// Any other call: its change committed, and the deadline passed in what came after.
    Change,
}

impl Committed {
    /// For `ErrorInfo.metadata`: how much stays done.
    pub fn metadata(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::ImportedMessages { messages } => {
                vec![("imported_messages", messages.to_string())]
            }
            Self::Swept { warned, recycled } => vec![
                ("warned", warned.to_string()),
                ("recycled", recycled.to_string()),
            ],
            Self::Change => vec![("committed", "true".to_owned())],
        }
    }
}

impl fmt::Display for Committed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ImportedMessages { messages: 1 } => f.write_str(
                "The call ran out of time after the stream's first message was imported (each \
                 message commits on its own); it stays imported: send the stream again with the \
                 same request_id, which skips it, or send only the messages after it.",
            ),
            Self::ImportedMessages { messages } => write!(
                f,
                "The call ran out of time after the stream's first {messages} messages were \
                 imported (each message commits on its own); they stay imported: send the stream \
                 again with the same request_id, which skips them, or send only the messages from \
                 message {messages} (0-based) on."
            ),
            Self::Swept { warned, recycled } => write!(
                f,
                "The call ran out of time during the sweep, whose batches commit one by one; what \
                 the committed ones did stays done: {recycled} leads recycled and {warned} warned, \
                 after any absences and pool-aging alerts that were due. Run it again to sweep the \
                 rest."
            ),
            Self::Change => f.write_str(
                "The call ran out of time after its change was committed; it stays done: send \
                 the call again with the same request_id to get its answer.",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_what_stays_done() {
        let one = Committed::ImportedMessages { messages: 1 }.to_string();
        assert!(one.contains("first message was imported"), "{one}");
        let three = Committed::ImportedMessages { messages: 3 }.to_string();
        assert!(three.contains("first 3 messages") && three.contains("message 3 (0-based)"));
        let swept = Committed::Swept {
            warned: 2,
            recycled: 1_000,
        };
        assert!(
            swept
                .to_string()
                .contains("1000 leads recycled and 2 warned")
        );
        assert_eq!(
            swept.metadata(),
            [("warned", "2".to_owned()), ("recycled", "1000".to_owned())]
        );
        let change = Committed::Change.to_string();
        assert!(change.contains("was committed") && change.contains("same request_id"));
    }
}
