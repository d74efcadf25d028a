"""Writes to campaigns: create, edit, schedule, cancel. The public surface of the app.

Signature changes after the first commit are announced here, at the top.

Public API (keyword-only; `actor` is the staff user, recorded in the audit log):

lifelong.campaigns.services (writes; raise CampaignError(message, field=...) for bad input)
    CAMPAIGN_FIELDS: tuple[str, ...]   the editable Campaign fields `values` may carry
    campaign_create(*, values: Mapping[str, Any], actor: User | None) -> Campaign
        `values`: Campaign field names -> values; `segment` a Segment or None (then `rules`,
        a rule tree as segments store it), `template` / `template_b` Template instances.
        Status draft.
    campaign_update(*, campaign: Campaign, values: Mapping[str, Any], actor: User | None)
        -> Campaign            only a draft or a scheduled campaign with no run yet
    campaign_schedule(*, campaign: Campaign, actor: User | None) -> Campaign
        draft -> scheduled; `next_run_at` = `send_at` (one-off; empty = now) or the first
        occurrence of its recurrence. The sweep `campaigns_due` starts it then.
    campaign_unschedule(*, campaign: Campaign, actor: User | None) -> Campaign
        scheduled and never run -> draft
    campaign_cancel(*, campaign: Campaign, actor: User | None) -> Campaign
        stops it: no further runs, running runs cancelled, their messages not yet sent
        cancelled; recipients and results stay.

lifelong.campaigns.selectors (reads)
    campaign_preview(*, campaign: Campaign, now: datetime | None = None, samples: int = 5)
        -> Preview             the campaign may be unsaved (a form's instance)
    Preview: audience: int; sendable: int (will get a message); held_out: int;
        skipped: dict[SkipReason value, int]; capped: int (sendable now at the frequency
        cap: will wait, not skipped); arms: dict[Arm value, int] (a / b / rest / holdout,
        skipped customers excluded); samples: dict[str, list[SampleCustomer]] keyed by skip
        reason, "holdout" and "capped"; SampleCustomer(id: int, name: str).
    campaign_progress(run: CampaignRun) -> int   0..100 for a progress bar

lifelong.campaigns.results (one function for every page)
    campaigns_results(campaign_ids: list[int], now: datetime) -> dict[int, CampaignResults]
    runs_results(run_ids: list[int], now: datetime) -> dict[int, CampaignResults]
        a constant number of queries, whatever the number of ids
    CampaignResults: arms: dict[Arm value, ArmFigures] (present arms only); treated:
        ArmFigures (a + b + rest); holdout: ArmFigures; conversion: journeys.uplift.Results
        (closed goal windows only, in both arms; in progress apart); revenue_per_recipient
        treated / holdout: Decimal | None
    ArmFigures: recipients, queued, skipped, sent, delivered, opened, clicked, replied,
        unsubscribed, closed, converted, in_progress: int; revenue: Decimal (closed windows)

lifelong.campaigns.engine (the sweep, registered as "campaigns.due")
    campaigns_due() -> int     starts due runs, queues batches, picks A/B winners, plans
                               the next run of recurring campaigns; returns messages queued

lifelong.campaigns.schedule
    next_occurrence(campaign: Campaign, after: datetime) -> datetime | None
"""
