-- 0002_redpacket_amounts_array: a red packet's pre-split amounts become one
-- row holding an array, instead of one row per amount.
--
-- Why: the API accepts up to 1 000 000 packets per red packet, and a row
-- per amount made creation cost ~14 µs per packet, most of it the foreign
-- key check each row runs against redpackets (measured on the dev box: a
-- 500 000-packet red packet took 6.8 s in that INSERT alone, 2.1 s without
-- the per-row checks), past the 5 s query timeout: the admin got 503 for a
-- red packet the API said was valid. One row is one foreign key check and
-- one index entry whatever the count. Nothing reads the amounts back row by
-- row; they are the record of what the split produced (the grabs table
-- holds what was granted).
--
-- amounts[i] is the packet of the former seq i - 1 (arrays start at 1).
--
-- Upgrading: run `surge migrate`, then restart the app servers (a new
-- binary refuses an unmigrated database; an old one fails red packet
-- creation once the old table is gone, so restart them right after).

CREATE TABLE redpacket_amount_lists (
  redpacket_id bigint   NOT NULL,
  amounts      bigint[] NOT NULL,
  CONSTRAINT redpacket_amount_lists_pkey PRIMARY KEY (redpacket_id),
  CONSTRAINT redpacket_amount_lists_redpacket_id_fkey FOREIGN KEY (redpacket_id)
    REFERENCES redpackets (id),
  CONSTRAINT redpacket_amount_lists_shape_check
    CHECK (array_ndims(amounts) = 1 AND array_lower(amounts, 1) = 1
           AND cardinality(amounts) >= 1),
  CONSTRAINT redpacket_amount_lists_amounts_check
    CHECK (0 < ALL (amounts) AND array_position(amounts, NULL) IS NULL)
);

INSERT INTO redpacket_amount_lists (redpacket_id, amounts)
SELECT redpacket_id, array_agg(amount_cents ORDER BY seq)
FROM redpacket_amounts
GROUP BY redpacket_id;

DROP TABLE redpacket_amounts;
