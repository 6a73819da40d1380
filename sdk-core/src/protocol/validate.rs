//! The rules a frame's fields must keep beyond their types: length caps and syntax.

use super::*;

/// A shared report: at most [`MAX_REPORT_BYTES`] of a JSON object's text.
fn check_report(report: &str) -> Result<(), ProtocolError> {
    cap("report", report, MAX_REPORT_BYTES)?;
    json::parse_obj(report)
        .map(drop)
        .map_err(|e| ProtocolError::Invalid {
            field: "report",
            reason: ["is not a JSON object: ", &e.message()].concat(),
        })
}

fn cap(field: &'static str, value: &str, max: usize) -> Result<(), ProtocolError> {
    if value.len() > max {
        return Err(ProtocolError::Invalid {
            field,
            reason: [
                "is ",
                &text::decimal(value.len() as u64),
                " bytes, over the ",
                &text::decimal(max as u64),
                " byte limit",
            ]
            .concat(),
        });
    }
    Ok(())
}

fn check_sdp(sdp: &str) -> Result<(), ProtocolError> {
    cap("sdp", sdp, MAX_SDP_BYTES)?;
    if !sdp.starts_with("v=") {
        return Err(ProtocolError::Invalid {
            field: "sdp",
            reason: "must start with `v=`".into(),
        });
    }
    Ok(())
}

fn check_candidate(c: &IceCandidate) -> Result<(), ProtocolError> {
    cap("candidate", &c.candidate, MAX_CANDIDATE_BYTES)?;
    // A byte scan (both are ASCII): `contains` with a char pattern brings UTF-8 decoding.
    if c.candidate.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(ProtocolError::Invalid {
            field: "candidate",
            reason: "must be a single line".into(),
        });
    }
    if let Some(mid) = &c.sdp_mid {
        cap("sdp_mid", mid, MAX_MID_BYTES)?;
    }
    Ok(())
}

fn check_stream(stream: Option<&String>) -> Result<(), ProtocolError> {
    stream.map_or(Ok(()), |s| cap("stream", s, MAX_MID_BYTES))
}

impl ClientMessage {
    /// Checks length caps and syntax beyond what the types enforce.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        match self {
            Self::Join {
                token,
                resume_token,
            } => {
                cap("token", token, MAX_TOKEN_BYTES)?;
                if let Some(r) = resume_token {
                    cap("resume_token", r, MAX_TOKEN_BYTES)?;
                }
                Ok(())
            }
            Self::Offer { sdp, .. } | Self::Answer { sdp, .. } => check_sdp(sdp),
            Self::Candidate { candidate, .. } => check_candidate(candidate),
            Self::Publish { stream, .. } => check_stream(stream.as_ref()),
            Self::Diagnostics { report } => check_report(report),
            Self::Unpublish { .. }
            | Self::Consent { .. }
            | Self::Recording { .. }
            | Self::QueueNext
            | Self::Leave
            | Self::Ping => Ok(()),
        }
    }
}

impl ServerMessage {
    /// Checks length caps and syntax beyond what the types enforce.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        match self {
            Self::Welcome { resume_token, .. } => {
                cap("resume_token", resume_token, MAX_TOKEN_BYTES)
            }
            Self::Offer { sdp, .. } | Self::Answer { sdp, .. } => check_sdp(sdp),
            Self::Candidate { candidate, .. } => check_candidate(candidate),
            Self::Published { stream, .. } => check_stream(stream.as_ref()),
            Self::MemberDiagnostics { report, .. } => check_report(report),
            Self::Error { message, .. } => cap("message", message, MAX_TEXT_BYTES),
            _ => Ok(()),
        }
    }
}
