//! Frames from the server: membership, relayed negotiation, publications, errors.

use super::*;

impl Session {
    pub(super) fn on_frame(&mut self, text: &str, now: Millis) {
        if !matches!(self.signal, Signal::Joining | Signal::Up) {
            return;
        }
        self.unanswered_ping = None;
        let msg = match protocol::decode_server(text) {
            Ok(msg) => msg,
            Err(e) => {
                // A server we cannot understand is reported, not fatal: later frames may be fine.
                self.emit(Event::Error(ErrorReported {
                    code: e.code(),
                    message: ["undecodable frame from server: ", &e.message()].concat(),
                    reference: protocol::frame_type(text),
                }));
                return;
            }
        };
        match msg {
            ServerMessage::Welcome {
                member,
                members,
                permissions,
                capabilities,
                ice_servers,
                resume_token,
                resumed,
                room,
                ..
            } => self.on_welcome(
                Me {
                    member,
                    permissions,
                    capabilities,
                    room: room.clone(),
                },
                room,
                members,
                ice_servers,
                resume_token,
                resumed,
                now,
            ),
            ServerMessage::Error {
                code,
                message,
                reference,
            } => self.on_error(code, message, reference),
            _ if self.signal != Signal::Up => {}
            ServerMessage::MemberJoined { member } => {
                self.roles.insert(member.id.clone(), member.role);
                self.ensure_peer(&member.id);
                self.set_remote_published(&member.id, member.published.clone());
                self.note_member(&member);
                self.emit(Event::MemberJoined(MemberJoined { member }));
                self.refresh_state();
            }
            ServerMessage::MemberLeft { member, reason } => {
                self.roles.remove(&member.id);
                self.drop_peer(&member.id);
                self.remote_published.remove(&member.id);
                self.diagnostics.remove(&member.id);
                self.consenting.retain(|m| *m != member.id);
                self.emit(Event::MemberLeft(MemberLeft {
                    member: member.id,
                    reason,
                }));
                self.refresh_state();
            }
            ServerMessage::Offer { from, sdp } => {
                // An offer from another peer connection than the one we negotiated with: the
                // other side made a fresh link; ours must follow, or its DTLS would not match.
                let session = links::session_id(&sdp).map(str::to_owned);
                let replaced = self
                    .peers
                    .get(&from)
                    .and_then(|p| p.remote_session.as_deref())
                    .is_some_and(|known| Some(known) != session.as_deref());
                if replaced {
                    self.replace_peer(&from);
                }
                self.with_peer(&from, |peer, out| {
                    peer.revive();
                    peer.remote_session = session;
                    peer.negotiation.remote_offer(sdp, out);
                });
            }
            ServerMessage::Answer { from, sdp } => {
                let session = links::session_id(&sdp).map(str::to_owned);
                self.with_peer(&from, |peer, out| {
                    if peer.negotiation.remote_answer(sdp, out) {
                        peer.remote_session = session;
                    }
                });
            }
            ServerMessage::Candidate { from, candidate } => {
                self.with_peer(&from, |peer, out| {
                    peer.negotiation.remote_candidate(candidate, out);
                });
            }
            ServerMessage::Published {
                member,
                source,
                stream,
            } => {
                let list = self.remote_published.get_or_default(member.clone());
                list.retain(|p| p.source != source);
                list.push(Published {
                    source,
                    stream: stream.clone(),
                });
                self.emit(Event::TrackPublished(TrackPublished {
                    member,
                    source,
                    stream,
                }));
            }
            ServerMessage::Unpublished { member, source } => {
                if let Some(list) = self.remote_published.get_mut(&member) {
                    list.retain(|p| p.source != source);
                }
                self.emit(Event::TrackUnpublished(TrackUnpublished { member, source }));
            }
            ServerMessage::Permissions {
                permissions,
                capabilities,
            } => {
                if let Some(me) = &mut self.me {
                    me.permissions = permissions;
                    me.capabilities = capabilities;
                }
                self.emit(Event::PermissionsChanged(PermissionsChanged {
                    permissions,
                    capabilities,
                }));
            }
            ServerMessage::RecordingState { mode, state } => {
                self.recording[mode_index(mode)] = state;
                self.emit(Event::RecordingChanged(RecordingChanged { mode, state }));
            }
            ServerMessage::MemberConsent { member, recording } => {
                if self.roles.get(&member).is_some() {
                    self.set_consenting(&member, recording);
                    self.emit(Event::MemberConsent(MemberConsent {
                        member,
                        granted: recording,
                    }));
                }
            }
            ServerMessage::MemberDiagnostics { member, report } => {
                if self.roles.get(&member).is_some() {
                    self.diagnostics.insert(member.clone(), report.clone());
                    self.emit(Event::MemberDiagnostics(MemberDiagnostics {
                        member,
                        report,
                    }));
                }
            }
            ServerMessage::Pong
            | ServerMessage::Queue { .. }
            | ServerMessage::Assigned { .. }
            | ServerMessage::Unsupported { .. } => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_welcome(
        &mut self,
        me: Me,
        room: protocol::RoomId,
        members: Vec<MemberInfo>,
        ice_servers: Vec<IceServer>,
        resume_token: String,
        resumed: bool,
        now: Millis,
    ) {
        if self.signal != Signal::Joining {
            return;
        }
        let was_reconnect = self.ever_joined;
        self.signal = Signal::Up;
        self.ever_joined = true;
        self.attempt = 0;
        self.join_deadline = None;
        self.next_ping = Some(now.after(self.config.ping_interval_ms));
        self.resume_token = Some(resume_token);
        self.ice_servers = ice_servers;

        if resumed {
            // Same seat: peer links and media were never torn down. Reconcile membership.
            let present: Vec<&MemberId> = members.iter().map(|m| &m.id).collect();
            let gone: Vec<MemberId> = self
                .peers
                .keys()
                .filter(|id| !present.contains(id))
                .cloned()
                .collect();
            for id in gone {
                self.roles.remove(&id);
                self.drop_peer(&id);
                self.remote_published.remove(&id);
                self.diagnostics.remove(&id);
                self.consenting.retain(|m| *m != id);
                self.emit(Event::MemberLeft(MemberLeft {
                    member: id,
                    reason: LeaveReason::Timeout,
                }));
            }
            // Frames held for members who left meanwhile would only earn `not_found`. Iterated
            // as the deque it is: converting it to a `Vec` first brings in the deque's
            // rotation code (about 450 B gzip in the browser build).
            for (to, frame) in std::mem::take(&mut self.outbox) {
                if to.is_some_and(|m| !self.peers.contains_key(&m)) {
                    continue;
                }
                self.push_frame(frame);
            }
            // An ICE restart offer written into the dead socket is lost: restart again.
            self.kick_disconnected_links();
        } else {
            // A fresh seat: everything negotiated before is void on both sides.
            self.close_all_peers();
            self.remote_published.clear();
            self.diagnostics.clear();
            self.consenting.clear();
            self.outbox.clear();
            // The server tells a new seat of a running recording right after `welcome`.
            self.recording = [RecordingStatus::Stopped; 2];
            // The new seat knows nothing: re-announce what we publish (so the others can label
            // our tracks) and a recording consent given earlier.
            let mine: Vec<Published> = self.published.clone();
            for p in mine {
                self.push_frame(protocol::encode_client(&ClientMessage::Publish {
                    source: p.source,
                    stream: p.stream,
                }));
            }
            if self.consent.recording_granted() {
                self.push_frame(protocol::encode_client(&ClientMessage::Consent {
                    recording: true,
                }));
            }
            // And the report this member shared (or asked to share before joining).
            if let Some(report) = self.shared_report.clone() {
                self.push_frame(protocol::encode_client(&ClientMessage::Diagnostics {
                    report,
                }));
            }
        }
        let new_members: Vec<MemberInfo> = members
            .iter()
            .filter(|m| !self.peers.contains_key(&m.id))
            .cloned()
            .collect();
        // On a resume, what known members published while we were away arrives as buffered
        // `published` frames; only members new to us are announced from the list.
        self.me = Some(me);
        if !resumed {
            self.roles.clear();
        }
        for m in &members {
            self.roles.insert(m.id.clone(), m.role);
            self.note_member(m);
        }
        for m in if resumed { &new_members } else { &members } {
            self.ensure_peer(&m.id);
            self.set_remote_published(&m.id, m.published.clone());
        }
        let Some(me) = &self.me else { return };
        let joined = Joined {
            member: me.member.clone(),
            room,
            members,
            permissions: me.permissions,
            capabilities: me.capabilities,
        };
        self.refresh_state();
        if was_reconnect {
            self.emit(Event::Reconnected(Reconnected { resumed }));
            if resumed {
                for member in new_members {
                    self.emit(Event::MemberJoined(MemberJoined { member }));
                }
                return;
            }
        }
        self.emit(Event::Joined(joined));
    }

    fn on_error(&mut self, code: ErrorCode, message: String, reference: Option<String>) {
        let joining = self.signal == Signal::Joining;
        let fatal = joining
            && matches!(
                code,
                ErrorCode::Unauthorized
                    | ErrorCode::TokenExpired
                    | ErrorCode::RoomFull
                    | ErrorCode::NotFound
            );
        if fatal {
            self.end(EndReason::Rejected { code, message });
        } else if code == ErrorCode::Conflict && reference.is_none() && !joining {
            // The server hands our seat to a newer connection; fighting back would ping-pong.
            self.end(EndReason::Replaced);
        } else {
            self.emit(Event::Error(ErrorReported {
                code,
                message,
                reference,
            }));
        }
    }

    /// Keeps what a member's listing carries: its report (one shared while we were away
    /// too) and its recording consent.
    fn note_member(&mut self, member: &MemberInfo) {
        if let Some(report) = &member.diagnostics {
            self.diagnostics.insert(member.id.clone(), report.clone());
        }
        self.set_consenting(&member.id, member.recording_consent);
    }

    fn set_consenting(&mut self, member: &MemberId, granted: bool) {
        self.consenting.retain(|m| m != member);
        if granted {
            self.consenting.push(member.clone());
        }
    }

    fn set_remote_published(&mut self, member: &MemberId, published: Vec<Published>) {
        for p in &published {
            self.emit(Event::TrackPublished(TrackPublished {
                member: member.clone(),
                source: p.source,
                stream: p.stream.clone(),
            }));
        }
        self.remote_published.insert(member.clone(), published);
    }
}
