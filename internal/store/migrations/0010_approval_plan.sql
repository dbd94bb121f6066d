-- 0010_approval_plan: the plan an approver is shown, kept with the request.
--
-- The rendered plan (the arguments with hidden characters made visible,
-- then the plan's effects, targets and the tool's findings) is stored when
-- the request is made, so an approver who lists pending requests later (a
-- reloaded console, `talon approvals list`) sees exactly what the live
-- request showed. Rows from before have ''.
ALTER TABLE approvals ADD COLUMN plan TEXT NOT NULL DEFAULT '';
