-- Version 2: threads.name is the thread's name as text, in every recording. `tidemark record` of
-- version 1 wrote the id of the name in `strings` there (imports always wrote the text); the name
-- comes back from that row. Nothing else changes.
UPDATE threads SET name = (SELECT s.value FROM strings s WHERE s.id = CAST(threads.name AS INTEGER))
WHERE name IS NOT NULL AND name <> '' AND name NOT GLOB '*[^0-9]*'
  AND EXISTS (SELECT 1 FROM meta WHERE key = 'recorder' AND value = 'tidemark record')
  AND EXISTS (SELECT 1 FROM strings s WHERE s.id = CAST(threads.name AS INTEGER));
