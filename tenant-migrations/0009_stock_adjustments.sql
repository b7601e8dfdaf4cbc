-- Staff adjustments of a variant's stock by a relative amount (goods received, a count
-- corrected, damage), each with the stock it left. Relative changes under the variant's row
-- lock cannot overwrite a concurrent sale, unlike setting an absolute value in the editor.
create table stock_adjustments (
    id uuid primary key,
    -- No foreign key: the record outlives a deleted variant.
    variant_id uuid not null,
    delta integer not null check (delta <> 0),
    stock_after integer not null check (stock_after >= 0),
    reason text not null check (reason in ('received', 'correction', 'damaged', 'returned', 'other')),
    note text not null default '',
    staff_id uuid,
    created_at timestamptz not null default now()
);
create index stock_adjustments_variant_idx on stock_adjustments (variant_id, id desc);
