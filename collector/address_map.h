// A hash map from addresses to values for the collector's live sets: open addressing with linear
// probing, values stored in the table, deletion by shifting back (no tombstones). The host live set
// takes an insert and an erase per allocation, which a node-based map pays for with a malloc and a
// free each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace tidemark::collector {

template <typename V> class AddressMap {
public:
    const V* find(uint64_t key) const
    {
        if (m_size == 0)
            return nullptr;
        for (size_t i = slotOf(key);; i = (i + 1) & m_mask) {
            const Slot& s = m_slots[i];
            if (!s.used)
                return nullptr;
            if (s.key == key)
                return &s.value;
        }
    }
    V* find(uint64_t key) { return const_cast<V*>(static_cast<const AddressMap*>(this)->find(key)); }
    bool contains(uint64_t key) const { return find(key) != nullptr; }

    // Inserts or replaces.
    V& put(uint64_t key, const V& value)
    {
        if ((m_size + 1) * 2 > m_slots.size())
            grow();
        size_t i = slotOf(key);
        for (; m_slots[i].used; i = (i + 1) & m_mask) {
            if (m_slots[i].key == key) {
                m_slots[i].value = value;
                return m_slots[i].value;
            }
        }
        m_slots[i] = Slot { key, value, true };
        ++m_size;
        return m_slots[i].value;
    }

    bool erase(uint64_t key)
    {
        if (m_size == 0)
            return false;
        size_t i = slotOf(key);
        while (true) {
            if (!m_slots[i].used)
                return false;
            if (m_slots[i].key == key)
                break;
            i = (i + 1) & m_mask;
        }
        // Shift back the entries of the run after i that may not stay behind the hole.
        size_t hole = i;
        for (size_t j = (i + 1) & m_mask; m_slots[j].used; j = (j + 1) & m_mask) {
            size_t home = slotOf(m_slots[j].key);
            bool between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
            if (!between) {
                m_slots[hole] = std::move(m_slots[j]);
                hole = j;
            }
        }
        m_slots[hole].used = false;
        --m_size;
        return true;
    }

    size_t size() const { return m_size; }
    void clear()
    {
        m_slots.clear();
        m_mask = 0;
        m_size = 0;
    }
    // fn(key, value) for every entry, in table order.
    template <typename Fn> void forEach(Fn&& fn) const
    {
        for (const Slot& s : m_slots)
            if (s.used)
                fn(s.key, s.value);
    }

private:
    struct Slot {
        uint64_t key = 0;
        V value {};
        bool used = false;
    };

    size_t slotOf(uint64_t key) const
    {
        // Fibonacci hashing: allocator addresses differ mostly in their middle bits.
        return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 20) & m_mask;
    }

    void grow()
    {
        std::vector<Slot> old = std::move(m_slots);
        m_slots.assign(old.empty() ? 1024 : old.size() * 2, Slot {});
        m_mask = m_slots.size() - 1;
        m_size = 0;
        for (Slot& s : old)
            if (s.used)
                put(s.key, s.value);
    }

    std::vector<Slot> m_slots;
    size_t m_mask = 0;
    size_t m_size = 0;
};

} // namespace tidemark::collector
