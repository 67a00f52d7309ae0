-- The skins a shop shows on PC and on mobile (Cafe24's shops list): the storefront
-- scripttag is registered for these (SPEC §4.7 `skin_no: [pc, mobile]`).
ALTER TABLE shops ADD COLUMN pc_skin_no BIGINT;
ALTER TABLE shops ADD COLUMN mobile_skin_no BIGINT;
