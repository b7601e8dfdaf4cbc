-- The category tree stays a tree whoever writes it. Two moves at once (X under Y, Y under X)
-- could each pass a cycle check that did not see the other, and a cycle makes every recursive
-- category query loop. Every change of a parent takes one lock per shop, the same one the
-- application takes before its own checks (`catalog::categories`), so such changes run one
-- after the other; then the new parent's ancestors are walked (statements in a volatile
-- function see what committed before them) and a cycle is refused.
-- Expand only: the application keeps its own check, so versions N and N+1 both stay safe.
create function categories_refuse_cycle() returns trigger
language plpgsql as $$
declare
    ancestor uuid := new.parent_id;
    steps integer := 0;
begin
    if new.parent_id is null then
        return new;
    end if;
    perform pg_advisory_xact_lock(hashtext('shopfleet.category_tree'), hashtext(tg_table_schema));
    while ancestor is not null loop
        if ancestor = new.id then
            raise exception 'a category cannot be moved under itself or its subcategories'
                using errcode = 'check_violation', constraint = 'categories_no_cycle';
        end if;
        steps := steps + 1;
        if steps > 1000 then
            raise exception 'the category tree is too deep'
                using errcode = 'check_violation', constraint = 'categories_no_cycle';
        end if;
        execute format('select parent_id from %I.categories where id = $1', tg_table_schema)
            into ancestor using ancestor;
    end loop;
    return new;
end
$$;

create trigger categories_no_cycle
    before insert or update of parent_id on categories
    for each row execute function categories_refuse_cycle();
